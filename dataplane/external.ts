/**
 * @module dataplane/external
 * The topology's external hosts, as the world answers a replay.
 *
 * - `echo` behaves like the lab's echoip container on TCP 80 (k8s-guide-lab.md §1):
 *   SYN → SYN-ACK with ISN = (Math.imul(clientSeq, 0x9e3779b1) + 0x1000) >>> 0 (a function
 *   of the client's SYN sequence number only, so synthetic generators can compute their
 *   acks); a data segment → a pure ACK, and once the request headers are complete
 *   (`\r\n\r\n` seen) an HTTP/1.1 200 response carrying FIN|PSH|ACK:
 *   `Content-Type: text/plain; charset=utf-8`, `Date` (capture clock, HTTP date),
 *   `Content-Length`, body = the source address the server saw + "\n"; a client FIN → ACK.
 *   It records, per answered request, the client address it saw. ICMP echo requests get
 *   echo replies; UDP datagrams are echoed back (ports swapped). TCP/UDP are answered only
 *   on the host's `ports` (all ports when the list is empty); other ports stay silent.
 * - `sink` never answers.
 * Answers leave `SERVER_DELAY_NS` (100 µs) after the packet that caused them.
 */

import { buildIpv4Frame } from './packet/build.ts';
import { ipToString } from './packet/addr.ts';
import type { ExternalHostSpec } from './cluster/topology.ts';
import type { Ipv4View } from './packet/view.ts';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './packet/tcp.ts';

export const SERVER_DELAY_NS = 100_000;
const WINDOW = 65160;
/** Connection table bound per host: the oldest connection is forgotten beyond it. */
const MAX_CONNS = 65536;
/**
 * Requests a host records in `seen` (summary.json's seenByServers). A stream carries
 * connections without end; past this many only `seenOmitted` counts, so memory stays
 * bounded by the live state.
 */
export const MAX_SEEN = 1000;

/** echoip's initial sequence number for a SYN with sequence `seq`. */
export function echoIsn(seq: number): number {
  return (Math.imul(seq >>> 0, 0x9e3779b1) + 0x1000) >>> 0;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** RFC 7231 IMF-fixdate of a capture-clock second. */
export function httpDate(sec: number): string {
  const d = new Date(sec * 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} GMT`;
}

/** The response echoip gives a wget: the client address as text and a newline. */
export function echoResponse(seenIp: string, sec: number): Uint8Array {
  const body = `${seenIp}\n`;
  const text =
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Date: ${httpDate(sec)}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    '\r\n' +
    body;
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

/**
 * What synthetic generators need to know of the echo host to write the client's
 * acknowledgements (structurally `dataplane/synth/types.ts` EchoModel). The response
 * length does not depend on the clock: an IMF-fixdate is always 29 characters.
 */
export const echoModel = {
  serverIsn: (clientIsn: number): number => echoIsn(clientIsn),
  responseLength: (seenAddr: string): number => echoResponse(seenAddr, 0).length,
};

interface Conn {
  isn: number;
  /** Next sequence number this server sends. */
  next: number;
  answered: boolean;
  finSent: boolean;
}

export interface SeenRecord {
  server: string;
  client: string;
  pod: string;
  /** The body the model answered; '' when the capture holds the server's own answers. */
  answered: string;
}

/** Whether `b[at..]` starts like an HTTP request line: 3 to 7 upper-case letters, a space. */
function isMethodStart(b: Uint8Array, at: number): boolean {
  let i = 0;
  while (i < 8 && b[at + i]! >= 0x41 && b[at + i]! <= 0x5a) i++;
  return i >= 3 && i <= 7 && b[at + i] === 0x20;
}

/** What the engine gives a host to answer with. */
export interface AnswerSink {
  /** Queues an Ethernet frame from the host, leaving at the given capture time. */
  answer(frame: Uint8Array, tsSec: number, tsNsec: number, host: ExternalHost): void;
  /** The original pod ip:port of a translated client address (for seenByServers), or ''. */
  podFor(proto: number, server: number, serverPort: number, client: number, clientPort: number): string;
}

export class ExternalHost {
  readonly spec: ExternalHostSpec;
  readonly ip: number;
  /** Cleared once the capture holds the host's own packets (the real answers). */
  answering: boolean;
  private readonly conns = new Map<number, Conn>();
  /** Connections whose request a silenced host has recorded (see observe). */
  private readonly observed = new Set<number>();
  /** The first MAX_SEEN requests this host saw, in order. */
  readonly seen: SeenRecord[] = [];
  /** Requests seen after `seen` was full. */
  seenOmitted = 0;
  /** Packets this host generated. */
  generated = 0;

  constructor(spec: ExternalHostSpec) {
    this.spec = spec;
    this.ip = spec.ip >>> 0;
    this.answering = spec.behaviour === 'echo';
  }

  /**
   * A host whose answers are in the capture still sees the requests: what its HTTP server
   * saw (the client address after SNAT) is recorded once per connection, unanswered.
   */
  private observe(v: Ipv4View, sink: AnswerSink): void {
    if (v.proto !== 6 || !this.listens(v.dport)) return;
    const b = v.buf;
    const l4 = v.l4Off;
    const doff = (b[l4 + 12]! >> 4) * 4;
    const at = l4 + doff;
    const end = v.l3Off + v.totalLen;
    // Only a request's first segment: it starts with a method (GET, HEAD, POST, PUT...), an
    // upper-case token then a space; anything else is passed over without a scan.
    if (end - at < 16 || !isMethodStart(b, at)) return;
    if (!Buffer.from(b.buffer, b.byteOffset + at, end - at).includes('\r\n\r\n')) return;
    const key = v.saddr * 65536 + v.sport;
    if (this.observed.has(key)) return;
    this.observed.add(key);
    if (this.observed.size > MAX_CONNS) this.observed.delete(this.observed.values().next().value!);
    this.recordSeen(v, sink, '');
  }

  /** What the server saw of a request (its client, after SNAT) and what it answered. */
  private recordSeen(v: Ipv4View, sink: AnswerSink, answered: string): void {
    if (this.seen.length >= MAX_SEEN) {
      this.seenOmitted++;
      return;
    }
    this.seen.push({
      server: `${this.spec.ipText}:${v.dport}`,
      client: `${ipToString(v.saddr)}:${v.sport}`,
      pod: sink.podFor(6, this.ip, v.dport, v.saddr, v.sport),
      answered,
    });
  }

  private listens(port: number): boolean {
    return this.spec.ports.length === 0 || this.spec.ports.includes(port);
  }

  /**
   * A packet reached the host (it left a node's eth0 towards it). `v` is parsed over the
   * frame; `dstMac` is the MAC the answers go to (the node that sent it).
   */
  receive(v: Ipv4View, dstMac: string, tsSec: number, tsNsec: number, sink: AnswerSink): void {
    if (v.daddr !== this.ip || v.l4Off < 0) return;
    if (!this.answering) return this.observe(v, sink);
    let nsec = tsNsec + SERVER_DELAY_NS;
    let sec = tsSec;
    if (nsec >= 1_000_000_000) {
      sec += 1;
      nsec -= 1_000_000_000;
    }
    const b = v.buf;
    const l4 = v.l4Off;
    const payloadOf = (hdr: number): Uint8Array => b.slice(l4 + hdr, v.l3Off + v.totalLen);
    const base = { srcMac: this.spec.mac, dstMac, saddr: this.ip, daddr: v.saddr };
    const send = (frame: Uint8Array): void => {
      this.generated++;
      sink.answer(frame, sec, nsec, this);
    };
    if (v.proto === 1) {
      if (v.icmpType !== 8) return;
      const seq = (b[l4 + 6]! << 8) | b[l4 + 7]!;
      send(buildIpv4Frame({ ...base, proto: 1, icmpType: 0, icmpCode: 0, icmpId: v.sport, icmpSeq: seq, payload: payloadOf(8) }));
      return;
    }
    if (v.proto === 17) {
      if (!this.listens(v.dport)) return;
      send(buildIpv4Frame({ ...base, proto: 17, sport: v.dport, dport: v.sport, payload: payloadOf(8) }));
      return;
    }
    if (v.proto !== 6 || !this.listens(v.dport)) return;
    const seq = ((b[l4 + 4]! << 24) | (b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!) >>> 0;
    const doff = (b[l4 + 12]! >> 4) * 4;
    const data = payloadOf(doff);
    const flags = v.tcpFlags;
    const key = v.saddr * 65536 + v.sport;
    const tcp = { ...base, proto: 6 as const, sport: v.dport, dport: v.sport, window: WINDOW };
    if (flags & TCP_RST) {
      this.conns.delete(key);
      return;
    }
    if (flags & TCP_SYN) {
      if (flags & TCP_ACK) return;
      let c = this.conns.get(key);
      if (!c) {
        const isn = echoIsn(seq);
        c = { isn, next: (isn + 1) >>> 0, answered: false, finSent: false };
        this.conns.set(key, c);
        if (this.conns.size > MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
      }
      send(buildIpv4Frame({ ...tcp, tcpFlags: TCP_SYN | TCP_ACK, seq: c.isn, ack: (seq + 1) >>> 0 }));
      return;
    }
    const c = this.conns.get(key);
    if (!c) return;
    let ack = (seq + data.length) >>> 0;
    if (data.length > 0) {
      send(buildIpv4Frame({ ...tcp, tcpFlags: TCP_ACK, seq: c.next, ack }));
      if (!c.answered && Buffer.from(data).includes('\r\n\r\n')) {
        c.answered = true;
        const seen = ipToString(v.saddr);
        const body = echoResponse(seen, tsSec);
        send(buildIpv4Frame({ ...tcp, tcpFlags: TCP_FIN | TCP_PSH | TCP_ACK, seq: c.next, ack, payload: body }));
        c.next = (c.next + body.length + 1) >>> 0;
        c.finSent = true;
        this.recordSeen(v, sink, `${seen}\n`);
      }
    }
    if (flags & TCP_FIN) {
      ack = (ack + 1) >>> 0;
      send(buildIpv4Frame({ ...tcp, tcpFlags: TCP_ACK, seq: c.next, ack }));
      if (c.finSent) this.conns.delete(key);
    }
  }
}
