// The mesh's model in the Pulumi graph: sites, host pairs (per-peer layout) and site pairs
// (compact layout) as component resources. No provider, no commands: each is one engine
// registration and one state entry holding the facts model-plan.ts computed. Their
// registrations carry no inputs (the facts are the outputs), so state holds each fact once.
// The outputs are registered as plain values, not Outputs: the Node.js SDK captures a stack
// trace for every Output it serializes, which for 5,000 pairs was ~4 s of a no-change `up`.
import * as pulumi from '@pulumi/pulumi';
import type { AddressFamily, AuthMode, Enforcement, Layout } from '../inventory/model.js';
import type { HostPairFacts, PairFamilyFacts, SiteFacts, SitePairFacts } from './model-plan.js';

export const SITE_TYPE = 'ipsec-mesh:index:Site';
export const HOST_PAIR_TYPE = 'ipsec-mesh:index:HostPair';
export const SITE_PAIR_TYPE = 'ipsec-mesh:index:SitePair';

export interface SitePrefixes {
  ipv4: string[];
  ipv6: string[];
}

/** One site: its prefixes, MTU and hosts. The site's MeshHosts are its children. */
export class MeshSite extends pulumi.ComponentResource {
  readonly siteName: pulumi.Output<string>;
  readonly mtu: pulumi.Output<number>;
  readonly prefixes: pulumi.Output<SitePrefixes>;
  /** Host names, in inventory order. */
  readonly hosts: pulumi.Output<string[]>;

  constructor(name: string, facts: SiteFacts, opts?: pulumi.ComponentResourceOptions) {
    super(SITE_TYPE, name, {}, opts);
    const outputs = {
      siteName: facts.name,
      mtu: facts.mtu,
      prefixes: { ipv4: [...facts.prefixes.ipv4], ipv6: [...facts.prefixes.ipv6] },
      hosts: [...facts.hosts],
    };
    this.siteName = pulumi.output(outputs.siteName);
    this.mtu = pulumi.output(outputs.mtu);
    this.prefixes = pulumi.output(outputs.prefixes);
    this.hosts = pulumi.output(outputs.hosts);
    this.registerOutputs(outputs);
  }
}

export interface PairFamily {
  family: AddressFamily;
  /** Address of host `a` in this family. */
  a: string;
  /** Address of host `b`. */
  b: string;
}

/** One host pair (per-peer layout): who, which families, how strictly, with what. Never a secret. */
export class MeshHostPair extends pulumi.ComponentResource {
  readonly hostA: pulumi.Output<string>;
  readonly hostB: pulumi.Output<string>;
  readonly siteA: pulumi.Output<string>;
  readonly siteB: pulumi.Output<string>;
  readonly families: pulumi.Output<PairFamily[]>;
  readonly enforcement: pulumi.Output<Enforcement>;
  readonly layout: pulumi.Output<Layout>;
  readonly auth: pulumi.Output<AuthMode>;
  readonly proposals: pulumi.Output<string[]>;
  readonly espProposals: pulumi.Output<string[]>;
  /**
   * PSK mode: a fingerprint of the pair's key (16 hex digits of an HMAC-SHA-256 of it; the key
   * is 256 random bits, so this tells nothing of it) — shows that a key changed, never which.
   * Certificate mode: undefined.
   */
  readonly pskFingerprint: pulumi.Output<string | undefined>;

  constructor(name: string, facts: HostPairFacts, pskFingerprint: pulumi.Output<string> | undefined, opts?: pulumi.ComponentResourceOptions) {
    super(HOST_PAIR_TYPE, name, {}, opts);
    const outputs = {
      hostA: facts.a,
      hostB: facts.b,
      siteA: facts.siteA,
      siteB: facts.siteB,
      families: facts.families.map((f: PairFamilyFacts) => ({ ...f })),
      enforcement: facts.enforcement,
      layout: facts.layout,
      auth: facts.auth,
      proposals: [...facts.proposals],
      espProposals: [...facts.espProposals],
    };
    this.hostA = pulumi.output(outputs.hostA);
    this.hostB = pulumi.output(outputs.hostB);
    this.siteA = pulumi.output(outputs.siteA);
    this.siteB = pulumi.output(outputs.siteB);
    this.families = pulumi.output(outputs.families);
    this.enforcement = pulumi.output(outputs.enforcement);
    this.layout = pulumi.output(outputs.layout);
    this.auth = pulumi.output(outputs.auth);
    this.proposals = pulumi.output(outputs.proposals);
    this.espProposals = pulumi.output(outputs.espProposals);
    this.pskFingerprint = pskFingerprint ?? pulumi.output(undefined);
    this.registerOutputs(pskFingerprint === undefined ? outputs : { ...outputs, pskFingerprint });
  }
}

export interface EnforcementCounts {
  off: number;
  use: number;
  require: number;
}

/**
 * The host pairs between two sites (compact layout, whose point is no per-pair state): how
 * many, which families, how many at each enforcement level, with what.
 */
export class MeshSitePair extends pulumi.ComponentResource {
  readonly siteA: pulumi.Output<string>;
  readonly siteB: pulumi.Output<string>;
  readonly pairs: pulumi.Output<number>;
  readonly families: pulumi.Output<AddressFamily[]>;
  readonly enforcement: pulumi.Output<EnforcementCounts>;
  readonly layout: pulumi.Output<Layout>;
  readonly auth: pulumi.Output<AuthMode>;
  readonly proposals: pulumi.Output<string[]>;
  readonly espProposals: pulumi.Output<string[]>;

  constructor(name: string, facts: SitePairFacts, opts?: pulumi.ComponentResourceOptions) {
    super(SITE_PAIR_TYPE, name, {}, opts);
    const outputs = {
      siteA: facts.siteA,
      siteB: facts.siteB,
      pairs: facts.pairs,
      families: [...facts.families],
      enforcement: { ...facts.enforcement },
      layout: facts.layout,
      auth: facts.auth,
      proposals: [...facts.proposals],
      espProposals: [...facts.espProposals],
    };
    this.siteA = pulumi.output(outputs.siteA);
    this.siteB = pulumi.output(outputs.siteB);
    this.pairs = pulumi.output(outputs.pairs);
    this.families = pulumi.output(outputs.families);
    this.enforcement = pulumi.output(outputs.enforcement);
    this.layout = pulumi.output(outputs.layout);
    this.auth = pulumi.output(outputs.auth);
    this.proposals = pulumi.output(outputs.proposals);
    this.espProposals = pulumi.output(outputs.espProposals);
    this.registerOutputs(outputs);
  }
}
