// Problems found while turning pair rules into host pairs. They are collected (every
// problem, not only the first) and thrown together as one TopologyError.

export type TopologyIssueKind =
  /** Two hosts in the inventory share a name (pairs are keyed by name). */
  | 'duplicate-host'
  /** A rule, selector or pair override names a host the inventory does not have. */
  | 'unknown-host'
  /** A selector with no criterion (the model forbids it: it would silently mean "everything"). */
  | 'empty-selector'
  /** A `pairs` or `exclude` entry, or a pair override, pairs a host with itself. */
  | 'self-pair'
  /** An additive rule implies no pair at all, or an `exclude` removes none. */
  | 'rule-matches-nothing'
  /** A pair (no `network` on its rule) whose hosts have no address family in common. */
  | 'no-shared-family'
  /** A pair whose rule names a network on which the two hosts share no family. */
  | 'no-address-on-network'
  /** A pair override names a pair that is not in the mesh, or the same pair twice. */
  | 'override-matches-no-pair'
  | 'duplicate-override'
  /** A pair of two unmanaged hosts: ipsec-mesh could configure neither end. */
  | 'unmanaged-pair'
  /** A pair of two roaming hosts: neither knows where to find the other. */
  | 'roaming-pair'
  /** A pair with a roaming end at `use`: its other end would have to initiate to it. */
  | 'roaming-use'
  /** The rules, after excludes, yield no pair at all. */
  | 'empty-mesh';

export interface TopologyIssue {
  readonly kind: TopologyIssueKind;
  /** Position of the offending rule in `inventory.rules` (its `index`), when a rule is at fault. */
  readonly ruleIndex?: number;
  /** Position in `mesh.pairOverrides`, when an override is at fault. */
  readonly overrideIndex?: number;
  /** Host names involved (the pair, or the hosts a rule matched); may be empty. */
  readonly hosts: readonly string[];
  readonly message: string;
}

/** Thrown by `computeHostPairs`; `issues` lists every problem, the top-level fields repeat the first. */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
  readonly issues: readonly TopologyIssue[];
  readonly kind: TopologyIssueKind;
  readonly ruleIndex: number | undefined;
  readonly hosts: readonly string[];

  constructor(issues: readonly TopologyIssue[]) {
    const first = issues[0];
    if (first === undefined) throw new RangeError('TopologyError needs at least one issue');
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem(s))` : '';
    super(`${first.message}${more}`);
    this.issues = issues;
    this.kind = first.kind;
    this.ruleIndex = first.ruleIndex;
    this.hosts = first.hosts;
  }
}
