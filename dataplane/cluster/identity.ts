/**
 * @module dataplane/cluster/identity
 * Security identities and endpoint naming.
 *
 * Cilium gives every distinct set of security-relevant labels a numeric identity; the
 * cluster-local range starts at 256, below it are the reserved identities. The real
 * allocator hands numbers out in arrival order (kvstore/CRD); the model sorts the label
 * sets by their text instead, so the same topology always gets the same numbers.
 */
import { createHash } from 'node:crypto';

export const IDENTITY_UNKNOWN = 0;
export const IDENTITY_HOST = 1;
export const IDENTITY_WORLD = 2;
export const IDENTITY_REMOTE_NODE = 6;
/** LOCAL_NODE_ID: what encapsulation sends instead of HOST_ID (the same number as remote-node). */
export const IDENTITY_LOCAL_NODE = 6;
/** First identity the allocator hands out for cluster-local label sets. */
export const IDENTITY_MIN_CLUSTER = 256;

/** Canonical text of a label set: `k=v` pairs sorted by key, joined by `;`. */
export function labelSetKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(';');
}

/** Returns, for each label set given, its identity (same set → same number). */
export function allocateIdentities(labelSets: Record<string, string>[]): number[] {
  const keys = labelSets.map(labelSetKey);
  const distinct = [...new Set(keys)].sort();
  const ids = new Map<string, number>();
  distinct.forEach((k, i) => ids.set(k, IDENTITY_MIN_CLUSTER + i));
  return keys.map((k) => ids.get(k)!);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Host-side veth name. Cilium names it `lxc` + the first 11 hex characters of a hash of
 * the endpoint (it hashes the container ID); the model hashes `namespace/name` so the name
 * is stable across runs and fits IFNAMSIZ (15 characters).
 */
export function lxcIfName(namespace: string, name: string): string {
  return `lxc${digest(`${namespace}/${name}`).toString('hex').slice(0, 11)}`;
}

/**
 * Default MAC of a pod's eth0 when the topology does not give one: locally administered
 * unicast (first byte with bit 1 set, bit 0 clear), derived from `namespace/name`, as the
 * real one is random per pod.
 */
export function podMac(namespace: string, name: string): string {
  const d = digest(`mac:${namespace}/${name}`);
  const b = [(d[0]! & 0xfc) | 0x02, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Docker's container MAC: 02:42 followed by the four bytes of the container's IPv4 address. */
export function dockerMac(ip: number): string {
  const b = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
