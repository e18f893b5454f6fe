/**
 * The echo host's record of what it saw (summary.json's seenByServers) is bounded: a stream
 * carries connections without end, and replay's memory must follow the live state.
 */
import { describe, expect, it } from 'vitest';
import { ExternalHost, MAX_SEEN, type AnswerSink } from '../../dataplane/external.ts';
import { buildIpv4Frame } from '../../dataplane/packet/build.ts';
import { Ipv4View } from '../../dataplane/packet/view.ts';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../dataplane/packet/tcp.ts';
import { ECHO_SVC_IP, ECHO_SVC_IP_TEXT, EGRESS_IP, T0 } from './fixtures.ts';

const ETH_HLEN = 14;
const REQUEST = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: echo\r\n\r\n');

function deliver(host: ExternalHost, sink: AnswerSink, frame: Uint8Array): void {
  const v = new Ipv4View();
  v.parse(frame, ETH_HLEN);
  host.receive(v, '02:42:0a:00:0a:02', T0, 0, sink);
}

/** One client connection: SYN, then the request. */
function connect(host: ExternalHost, sink: AnswerSink, sport: number): void {
  const base = { srcMac: '02:42:0a:00:0a:02', dstMac: '02:42:ac:12:00:07', saddr: EGRESS_IP, daddr: ECHO_SVC_IP, proto: 6 as const, sport, dport: 80 };
  deliver(host, sink, buildIpv4Frame({ ...base, tcpFlags: TCP_SYN, seq: 1000 }));
  deliver(host, sink, buildIpv4Frame({ ...base, tcpFlags: TCP_PSH | TCP_ACK, seq: 1001, ack: 1, payload: REQUEST }));
}

describe('ExternalHost: what the server saw', () => {
  it('keeps the first MAX_SEEN requests in order and counts the rest', () => {
    const host = new ExternalHost({ name: 'echo', ip: ECHO_SVC_IP, ipText: ECHO_SVC_IP_TEXT, mac: '02:42:ac:12:00:07', ports: [80], behaviour: 'echo' });
    let answers = 0;
    const sink: AnswerSink = { answer: () => void answers++, podFor: () => '' };
    const extra = 25;
    for (let i = 0; i < MAX_SEEN + extra; i++) connect(host, sink, 1024 + i);
    expect(host.seen).toHaveLength(MAX_SEEN);
    expect(host.seenOmitted).toBe(extra);
    expect(host.seen[0]!.client).toBe('1.2.3.4:1024');
    expect(host.seen[MAX_SEEN - 1]!.client).toBe(`1.2.3.4:${1024 + MAX_SEEN - 1}`);
    expect(host.seen[0]!.answered).toBe('1.2.3.4\n');
    // Every connection is still answered (SYN-ACK, ACK, response): only the record is capped.
    expect(answers).toBe(3 * (MAX_SEEN + extra));
  });
});
