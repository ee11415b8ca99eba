// Public surface of the topology layer.
export type { HostPair, PairEndpoints } from './host-pair.js';
export { crossesNat, DYNAMIC_ADDRESS, localAddress, peerOf, remoteAddress, roams } from './host-pair.js';
export type { HostPairSet } from './host-pair-set.js';
export { findPair, pairsForHost, UnknownHostError } from './host-pair-set.js';
export { analyseHostPairs, computeHostPairs, type TopologyResult } from './compute-host-pairs.js';
export { resolvePairEnforcement, siteEnforcement, weakerEnforcement } from './pair-enforcement.js';
export { TopologyError, type TopologyIssue, type TopologyIssueKind } from './topology-error.js';
