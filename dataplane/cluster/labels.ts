/**
 * @module dataplane/cluster/labels
 * Kubernetes label selectors (`matchLabels` + `matchExpressions` with In, NotIn, Exists,
 * DoesNotExist) and the egress rule selector triple of Cilium's egress CRDs.
 *
 * Semantics follow `metav1.LabelSelector`: all requirements are ANDed, an empty selector
 * (`{}`) matches everything. Cilium writes selector keys with a source prefix (`k8s:`);
 * users may too, so a `k8s:` prefix is dropped when a selector is parsed.
 */
import type { DocContext } from './yaml-source.ts';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelRequirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelRequirement[];
}

/** One entry of CENP `spec.egress[]` / CEGP `spec.selectors[]`. Absent selectors do not constrain. */
export interface Selector {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  /** CEGP only: restricts source pods to nodes with these labels. */
  nodeSelector?: LabelSelector;
}

/** The label pods carry for their namespace (Cilium adds it to every pod's identity). */
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** The label Kubernetes puts on every namespace (1.21+). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

export function emptySelector(): LabelSelector {
  return { matchLabels: {}, matchExpressions: [] };
}

export function selectorFromLabels(labels: Record<string, string>): LabelSelector {
  return { matchLabels: { ...labels }, matchExpressions: [] };
}

export function matchesSelector(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const k in sel.matchLabels) {
    if (labels[k] !== sel.matchLabels[k]) return false;
  }
  for (const r of sel.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key]!)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(labels[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

function stripSource(key: string): string {
  return key.startsWith('k8s:') ? key.slice(4) : key;
}

/** Parses a `metav1.LabelSelector` at `field`, with the validation rules of apimachinery. */
export function parseLabelSelector(ctx: DocContext, v: unknown, field: string): LabelSelector {
  if (v === null || v === undefined) return emptySelector();
  const o = ctx.obj(v, field);
  ctx.keys(o, field, ['matchLabels', 'matchExpressions']);
  const matchLabels: Record<string, string> = {};
  for (const [k, val] of Object.entries(ctx.labels(o.matchLabels, `${field}.matchLabels`))) matchLabels[stripSource(k)] = val;
  const matchExpressions: LabelRequirement[] = [];
  if (o.matchExpressions !== undefined && o.matchExpressions !== null) {
    ctx.list(o.matchExpressions, `${field}.matchExpressions`).forEach((e, i) => {
      const f = `${field}.matchExpressions[${i}]`;
      const eo = ctx.obj(e, f);
      ctx.keys(eo, f, ['key', 'operator', 'values']);
      const key = stripSource(ctx.str(eo.key, `${f}.key`));
      const op = ctx.str(eo.operator, `${f}.operator`);
      if (!(OPERATORS as readonly string[]).includes(op)) {
        throw ctx.error(`${f}.operator`, `unknown operator '${op}' (one of ${OPERATORS.join(', ')})`);
      }
      const operator = op as SelectorOperator;
      const values: string[] = [];
      if (eo.values !== undefined && eo.values !== null) {
        ctx.list(eo.values, `${f}.values`).forEach((x, j) => {
          if (typeof x !== 'string') throw ctx.error(`${f}.values[${j}]`, `values must be strings (quote it)`);
          values.push(x);
        });
      }
      if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
        throw ctx.error(`${f}.values`, `operator ${operator} needs a non-empty values list`);
      }
      if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
        throw ctx.error(`${f}.values`, `operator ${operator} takes no values`);
      }
      matchExpressions.push({ key, operator, values });
    });
  }
  return { matchLabels, matchExpressions };
}

/** `kubectl`-style text of a selector, for messages and comments. */
export function selectorText(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const r of sel.matchExpressions) {
    if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${r.values.join(',')})`);
  }
  return parts.length === 0 ? '<everything>' : parts.join(',');
}
