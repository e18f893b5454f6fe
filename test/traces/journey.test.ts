/**
 * traces/journey: the text `egresslab explain` and the dashboard's enter key print. The
 * "now" tuple of a translated hop is the packet on the wire: Hubble's event keeps the old
 * source address in IP.source but takes the ports from the rewritten packet, so a port
 * changed by SNAT must not be printed beside the old address.
 */
import { describe, expect, it } from 'vitest';
import { formatJourney } from '../../traces/journey.ts';
import { EGRESS_IP, ECHO, GATEWAY_NODE, packetEvents } from '../dashboards/fixtures.ts';

const CLIENT_IP = '10.0.1.209';
const CLIENT_PORT = 41000;
const SNAT_PORT = 52113;

describe('formatJourney', () => {
  it('after SNAT, "now" shows the translated source with the translated port, and names the original', () => {
    const events = packetEvents({
      flowId: 'flow-1',
      index: 0,
      sec: 1_630_324_800,
      src: CLIENT_IP,
      dst: ECHO,
      // The event's L4 comes from the rewritten packet: the port SNAT chose.
      sport: SNAT_PORT,
      dport: 80,
      flags: ['SYN'],
      reply: false,
      hops: [{ node: GATEWAY_NODE, point: 'TO_NETWORK', verdict: 'TRANSLATED', program: 'bpf_host:to-netdev', device: 'eth0', xlated: EGRESS_IP }],
    });
    const verdict = formatJourney(events).find((l) => l.includes('verdict'));
    expect(verdict).toBe(
      `        verdict TRANSLATED  now ${EGRESS_IP}:${SNAT_PORT} -> ${ECHO}:80 TCP [SYN]  (source_xlated ${EGRESS_IP}, from ${CLIENT_IP})`,
    );
  });

  it('without a translation, "now" is the event tuple as it is', () => {
    const events = packetEvents({
      flowId: 'flow-2',
      index: 3,
      sec: 1_630_324_801,
      src: CLIENT_IP,
      dst: ECHO,
      sport: CLIENT_PORT,
      dport: 80,
      flags: ['ACK'],
      reply: false,
      hops: [{ node: GATEWAY_NODE, point: 'TO_OVERLAY', program: 'bpf_lxc:from-container', device: 'cilium_vxlan' }],
    });
    expect(formatJourney(events).find((l) => l.includes('verdict'))).toBe(`        verdict FORWARDED  now ${CLIENT_IP}:${CLIENT_PORT} -> ${ECHO}:80 TCP [ACK]`);
  });

  it('prints each lookup under the function that made it; a lookup without a place (an older event file) after the functions', () => {
    const [ev] = packetEvents({
      flowId: 'flow-3', index: 0, sec: 1_630_324_800, src: CLIENT_IP, dst: ECHO, sport: CLIENT_PORT, dport: 80, flags: ['SYN'], reply: false,
      hops: [{
        node: GATEWAY_NODE, point: 'TO_OVERLAY', program: 'bpf_lxc:from-container', device: 'cilium_vxlan',
        functions: ['handle_ipv4_from_lxc', 'ct_lookup4', 'lookup_ip4_egress_endpoint', 'encap_and_redirect_lxc'],
        lookups: [
          { map: 'cilium_egress_v4', key: `${CLIENT_IP} -> ${ECHO}`, result: 'hit', at: 3 },
          { map: 'cilium_ct4_global', key: 'tuple', result: 'NEW', at: 2 },
          { map: 'cilium_ipcache', key: ECHO, result: 'identity 2' },
        ],
      }],
    });
    const body = formatJourney([ev!]).slice(2, -1).map((l) => l.trim());
    expect(body).toEqual([
      'handle_ipv4_from_lxc',
      'ct_lookup4',
      'lookup cilium_ct4_global [tuple] -> NEW',
      'lookup_ip4_egress_endpoint',
      `lookup cilium_egress_v4 [${CLIENT_IP} -> ${ECHO}] -> hit`,
      'encap_and_redirect_lxc',
      `lookup cilium_ipcache [${ECHO}] -> identity 2`,
    ]);
  });
});
