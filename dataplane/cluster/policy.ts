/**
 * @module dataplane/cluster/policy
 * Cilium's egress policy CRDs, read from YAML as `kubectl get -o yaml` prints them:
 *
 * - `cilium.io/v2alpha1` **CiliumEgressNATPolicy** (Cilium 1.10–1.12): `spec.egress[]`
 *   rules (podSelector / namespaceSelector), `spec.destinationCIDRs`, `spec.egressSourceIP`.
 * - `cilium.io/v2` **CiliumEgressGatewayPolicy** (1.12+): `spec.selectors[]` (podSelector,
 *   namespaceSelector, nodeSelector), `spec.destinationCIDRs`, `spec.excludedCIDRs`,
 *   `spec.egressGateway` {nodeSelector, egressIP | interface}.
 *
 * A file may hold several documents and `kind: List` objects. Server-populated metadata
 * (uid, resourceVersion, managedFields, annotations...) and `status` are ignored; any
 * unknown field under `spec` is an error, because a misspelt field silently ignored is a
 * policy that does something else than its author thinks (the v1.10 example file's
 * `destinationCidrs` / `egressSourceIp` are the classic case).
 *
 * Selection: a pod is selected when any rule matches. Within a rule, every selector that
 * is present must match: podSelector against the pod's labels (which include
 * `io.kubernetes.pod.namespace`, the way the lab selects its namespace), namespaceSelector
 * against the namespace's labels, nodeSelector against the labels of the pod's node.
 */
import { ConfigError } from '../../traces/errors.ts';
import type { Cidr } from './cidr.ts';
import { parseCidr, tryParseIpv4 } from './cidr.ts';
import type { LabelSelector, Selector } from './labels.ts';
import { matchesSelector, parseLabelSelector } from './labels.ts';
import type { EndpointSpec, Topology } from './topology.ts';
import { namespaceLabels } from './topology.ts';
import type { Obj, YamlDoc } from './yaml-source.ts';
import { DocContext, readYamlFile } from './yaml-source.ts';

export type { LabelSelector, Selector } from './labels.ts';
export { labPolicy } from './lab.ts';

/** Datapath profile: the seed's Cilium 1.10, or current Cilium (1.17). */
export type Profile = '1.10' | '1.17';

export type EgressPolicyKind = 'CiliumEgressNATPolicy' | 'CiliumEgressGatewayPolicy';

export interface EgressPolicy {
  name: string;
  kind: EgressPolicyKind;
  file: string;
  /** Line of the object's first field in `file`. */
  line: number;
  /** Where its pod selectors are (`spec.egress` / `spec.selectors`) and their line: errors about what it selects point there. */
  selectorsAt?: { field: string; line: number };
  selectors: Selector[];
  destinationCidrs: Cidr[];
  excludedCidrs: Cidr[];
  /** CENP: SNAT address and (in 1.10) tunnel endpoint. */
  egressSourceIp?: number;
  /** CEGP. */
  gateway?: { nodeSelector: LabelSelector; egressIp?: number; interface?: string };
}

export const CENP_API_VERSION = 'cilium.io/v2alpha1';
export const CEGP_API_VERSION = 'cilium.io/v2';

/** Loads every egress policy in `file` (multi-document, `kind: List`). */
export function loadPolicies(file: string): EgressPolicy[] {
  return policiesFromDocs(readYamlFile(file));
}

export function policiesFromDocs(docs: YamlDoc[]): EgressPolicy[] {
  const out: EgressPolicy[] = [];
  const seen = new Map<string, EgressPolicy>();
  const add = (p: EgressPolicy, ctx: DocContext): void => {
    const prev = seen.get(p.name);
    // Both CRDs are cluster-scoped: one name, one object.
    if (prev) throw ctx.error('metadata.name', `duplicate policy name '${p.name}' (first at ${prev.file}:${prev.line})`);
    seen.set(p.name, p);
    out.push(p);
  };
  for (const doc of docs) {
    const ctx = new DocContext(doc);
    const o = ctx.obj(doc.value, '');
    const kind = o.kind;
    if (kind === 'List' || (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(o.items))) {
      ctx.keys(o, '', ['apiVersion', 'kind', 'metadata', 'items']);
      ctx.list(o.items ?? [], 'items').forEach((item, i) => {
        const c = ctx.child(`items[${i}]`);
        add(parsePolicyObject(c, item), c);
      });
    } else {
      add(parsePolicyObject(ctx, o), ctx);
    }
  }
  return out;
}

/** CENP → 1.10 (the seed), CEGP → 1.17; a set with any CEGP needs 1.17. */
export function profileForPolicies(p: EgressPolicy[]): Profile {
  return p.some((x) => x.kind === 'CiliumEgressGatewayPolicy') ? '1.17' : '1.10';
}

/** Does rule `sel` select endpoint `ep` in `topo`? */
export function selectorMatches(topo: Topology, sel: Selector, ep: EndpointSpec): boolean {
  if (sel.podSelector && !matchesSelector(sel.podSelector, ep.labels)) return false;
  if (sel.namespaceSelector && !matchesSelector(sel.namespaceSelector, namespaceLabels(topo, ep.namespace))) return false;
  if (sel.nodeSelector) {
    const node = topo.nodes.find((n) => n.name === ep.node);
    if (!node || !matchesSelector(sel.nodeSelector, node.labels)) return false;
  }
  return true;
}

/** Endpoints a policy selects, in topology order. */
export function selectedEndpoints(topo: Topology, policy: EgressPolicy): EndpointSpec[] {
  return topo.endpoints.filter((ep) => policy.selectors.some((s) => selectorMatches(topo, s, ep)));
}

/**
 * Names of the policies that select no endpoint of `topo`. `egresslab replay` refuses
 * such a policy (exit 2): it is almost always a typo in a label, and replaying would
 * silently show "default local egress" for every flow.
 */
export function policiesSelectingNothing(topo: Topology, policies: EgressPolicy[]): string[] {
  return policies.filter((p) => selectedEndpoints(topo, p).length === 0).map((p) => p.name);
}

// ---------------------------------------------------------------------------------------

const OBJECT_KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CENP_SPEC_KEYS = ['egress', 'destinationCIDRs', 'egressSourceIP'];
const CEGP_SPEC_KEYS = ['selectors', 'destinationCIDRs', 'excludedCIDRs', 'egressGateway'];
const SPELLING_HINTS: Record<string, string> = {
  destinationCidrs: 'destinationCIDRs',
  destinationCIDR: 'destinationCIDRs',
  egressSourceIp: 'egressSourceIP',
  excludedCidrs: 'excludedCIDRs',
};

function parsePolicyObject(ctx: DocContext, v: unknown): EgressPolicy {
  const o = ctx.obj(v, '');
  // The kind first: a ConfigMap in the file is reported as the wrong kind, not by its fields.
  const kind = ctx.str(o.kind, 'kind');
  if (kind !== 'CiliumEgressNATPolicy' && kind !== 'CiliumEgressGatewayPolicy') {
    throw ctx.error('kind', `expected CiliumEgressNATPolicy or CiliumEgressGatewayPolicy, got '${kind}'`);
  }
  ctx.keys(o, '', OBJECT_KEYS);
  const apiVersion = ctx.str(o.apiVersion, 'apiVersion');
  const wantApi = kind === 'CiliumEgressNATPolicy' ? CENP_API_VERSION : CEGP_API_VERSION;
  if (apiVersion !== wantApi) {
    throw ctx.error('apiVersion', `${kind} is served as ${wantApi}, got '${apiVersion}'`);
  }
  const meta = ctx.obj(o.metadata, 'metadata');
  const name = ctx.str(meta.name, 'metadata.name');
  // The API server admits only DNS-1123 subdomains; checking here also keeps a hand-written
  // file from carrying control characters into captures' comments and the dashboard.
  if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    throw ctx.error('metadata.name', `'${JSON.stringify(name).slice(1, -1)}' is not a valid object name (lowercase letters, digits, '-' and '.', at most 253, starting and ending alphanumeric)`);
  }
  const spec = ctx.obj(o.spec, 'spec');
  const line = ctx.lineOf('');
  const file = ctx.doc.file;

  if (kind === 'CiliumEgressNATPolicy') {
    ctx.keys(spec, 'spec', CENP_SPEC_KEYS, {
      ...SPELLING_HINTS,
      selectors: 'egress (selectors is the CiliumEgressGatewayPolicy field)',
    });
    const destinationCidrs = cidrs(ctx, spec.destinationCIDRs, 'spec.destinationCIDRs', true);
    const selectors = rules(ctx, spec.egress, 'spec.egress', false);
    if (spec.egressSourceIP === undefined) throw ctx.error('spec.egressSourceIP', 'missing (required)');
    const egressSourceIp = ip(ctx, spec.egressSourceIP, 'spec.egressSourceIP');
    const selectorsAt = { field: 'spec.egress', line: ctx.lineOf('spec.egress') };
    return { name, kind, file, line, selectorsAt, selectors, destinationCidrs, excludedCidrs: [], egressSourceIp };
  }

  ctx.keys(spec, 'spec', CEGP_SPEC_KEYS, {
    ...SPELLING_HINTS,
    egress: 'selectors (egress is the CiliumEgressNATPolicy field)',
    egressGateways: 'egressGateway (the multi-gateway list is not in upstream Cilium)',
    egressSourceIP: 'egressGateway.egressIP',
  });
  const destinationCidrs = cidrs(ctx, spec.destinationCIDRs, 'spec.destinationCIDRs', true);
  const selectors = rules(ctx, spec.selectors, 'spec.selectors', true);
  const excludedCidrs = spec.excludedCIDRs == null ? [] : cidrs(ctx, spec.excludedCIDRs, 'spec.excludedCIDRs', false);
  if (spec.egressGateway === undefined) throw ctx.error('spec.egressGateway', 'missing (required)');
  const gw = ctx.obj(spec.egressGateway, 'spec.egressGateway');
  ctx.keys(gw, 'spec.egressGateway', ['nodeSelector', 'egressIP', 'interface'], { egressIp: 'egressIP' });
  if (gw.nodeSelector === undefined || gw.nodeSelector === null) {
    throw ctx.error('spec.egressGateway.nodeSelector', 'missing (required)');
  }
  const nodeSelector = parseLabelSelector(ctx, gw.nodeSelector, 'spec.egressGateway.nodeSelector');
  const gateway: NonNullable<EgressPolicy['gateway']> = { nodeSelector };
  if (gw.egressIP != null && gw.interface != null) {
    throw ctx.error('spec.egressGateway.egressIP', 'egressIP and interface are mutually exclusive; set one of them');
  }
  if (gw.egressIP != null) gateway.egressIp = ip(ctx, gw.egressIP, 'spec.egressGateway.egressIP');
  if (gw.interface != null) gateway.interface = ctx.str(gw.interface, 'spec.egressGateway.interface');
  const selectorsAt = { field: 'spec.selectors', line: ctx.lineOf('spec.selectors') };
  return { name, kind, file, line, selectorsAt, selectors, destinationCidrs, excludedCidrs, gateway };
}

function rules(ctx: DocContext, v: unknown, field: string, withNode: boolean): Selector[] {
  if (v === undefined || v === null) throw ctx.error(field, 'missing (required)');
  const list = ctx.list(v, field);
  if (list.length === 0) throw ctx.error(field, 'needs at least one rule');
  return list.map((r, i) => {
    const f = `${field}[${i}]`;
    const ro: Obj = ctx.obj(r, f);
    ctx.keys(ro, f, withNode ? ['podSelector', 'namespaceSelector', 'nodeSelector'] : ['podSelector', 'namespaceSelector']);
    if (ro.podSelector == null && ro.namespaceSelector == null) {
      throw ctx.error(f, 'a rule needs a podSelector or a namespaceSelector (or both)');
    }
    const sel: Selector = {};
    if (ro.podSelector != null) sel.podSelector = parseLabelSelector(ctx, ro.podSelector, `${f}.podSelector`);
    if (ro.namespaceSelector != null) sel.namespaceSelector = parseLabelSelector(ctx, ro.namespaceSelector, `${f}.namespaceSelector`);
    if (ro.nodeSelector != null) sel.nodeSelector = parseLabelSelector(ctx, ro.nodeSelector, `${f}.nodeSelector`);
    return sel;
  });
}

function cidrs(ctx: DocContext, v: unknown, field: string, required: boolean): Cidr[] {
  if (v === undefined || v === null) {
    if (required) throw ctx.error(field, 'missing (required)');
    return [];
  }
  const list = ctx.list(v, field);
  if (required && list.length === 0) throw ctx.error(field, 'needs at least one CIDR');
  return list.map((x, i) => {
    const f = `${field}[${i}]`;
    const s = ctx.str(x, f);
    if (!s.includes('/')) throw ctx.error(f, `not a CIDR (missing /prefix): '${s}'`);
    try {
      return parseCidr(s);
    } catch (e) {
      throw ctx.error(f, (e as Error).message);
    }
  });
}

function ip(ctx: DocContext, v: unknown, field: string): number {
  const s = ctx.str(v, field);
  const a = tryParseIpv4(s);
  if (a < 0) throw ctx.error(field, `not an IPv4 address: '${s}'`);
  return a;
}

/** For tools: a ConfigError about a policy as a whole (no single field). */
export function policyError(p: EgressPolicy, field: string | undefined, reason: string): ConfigError {
  return new ConfigError(p.file, p.line, field, reason);
}
