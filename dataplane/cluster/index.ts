/**
 * @module dataplane/cluster
 * One import for everything the cluster folder exports (topology, policies, the lab).
 */
export * from './cidr.ts';
export * from './identity.ts';
export * from './labels.ts';
export * from './topology.ts';
export * from './policy.ts';
export { LAB_POLICY_FILE, LAB_POLICY_YAML, LAB_TOPOLOGY_FILE, LAB_TOPOLOGY_YAML } from './lab.ts';
