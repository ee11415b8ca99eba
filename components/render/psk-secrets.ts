// The PSK `secrets` file of one host: one `ike-…` section per peer, keyed by both identities
// so charon picks the pair's own key. Values come in; nothing is generated here.
//
// During a rotation each peer also gets an accept-only section keyed by the peer's identity
// alone. charon signs with the best-matching key — the one naming both identities — but
// verifies a peer's AUTH against every key that matches (psk_authenticator.c, process()), so a
// host accepts both generations while signing with one (docs/components.md, *PSK rotation*).
import type { Host, Inventory } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import { confValue } from './conf-syntax.js';
import { meshFilePaths } from './file-paths.js';
import { checkedPairs } from './mesh-connections.js';
import { renderContext } from './render-context.js';
import { RenderError } from './render-error.js';
import type { RenderedFile } from './rendered-file.js';

export interface PskSecretsInput {
  readonly inventory: Inventory;
  readonly host: Host;
  readonly pairs: readonly HostPair[];
  /** The pair's key (e.g. derivePairPsk), in swanctl notation: `0x…` hex, `0s…` base64 or text. */
  readonly pskFor: (pair: HostPair) => string;
  /** A rotation's other generation: the pair's key also accepted from the peer, never signed with. */
  readonly pskAcceptFor?: (pair: HostPair) => string;
}

export function renderPskSecrets(input: PskSecretsInput): RenderedFile {
  const ctx = renderContext(input.inventory);
  const { host } = input;
  const m = ctx.mesh.name;
  if (ctx.mesh.auth !== 'psk') {
    throw new RenderError(`PSK secrets asked for, but the mesh uses auth "${ctx.mesh.auth}"`, { code: 'wrong-auth', mesh: m, host: host.name });
  }
  if (ctx.mesh.layout === 'compact') {
    throw new RenderError('the compact layout cannot use PSKs (it authenticates peers by the mesh CA)', { code: 'compact-psk', mesh: m, host: host.name });
  }
  const pairs = checkedPairs(ctx, host, input.pairs);
  const ownId = ctx.identityValue(host);
  const out = [
    `# Managed by ipsec-mesh: mesh "${m}", host "${host.name}". SECRET: mode 0600, never copy it elsewhere.`,
    'secrets {',
  ];
  for (const pair of pairs) {
    if (pair.enforcement === 'off') continue; // no connection, so no key on the host
    const peerName = pair.a === host.name ? pair.b : pair.a;
    const peer = ctx.hostsByName.get(peerName);
    if (peer === undefined) {
      throw new RenderError(`peer "${peerName}" is not in the inventory`, { code: 'unknown-host', mesh: m, host: host.name, pair: pair.key });
    }
    const checked = (psk: string): string => {
      try {
        return confValue(psk, 'PSK');
      } catch (e) {
        // Never echo the value: only say which pair's key is unusable.
        if (e instanceof RenderError) throw new RenderError('the PSK is empty or contains control characters', { code: 'bad-value', mesh: m, host: host.name, pair: pair.key });
        throw e;
      }
    };
    const peerId = ctx.identityValue(peer);
    out.push(`\tike-${m}_${peerName} {\n` + `\t\tid-a = ${ownId}\n` + `\t\tid-b = ${peerId}\n` + `\t\tsecret = ${checked(input.pskFor(pair))}\n` + '\t}');
    if (input.pskAcceptFor !== undefined) {
      out.push(`\tike-${m}_${peerName}_accept {\n` + `\t\tid = ${peerId}\n` + `\t\tsecret = ${checked(input.pskAcceptFor(pair))}\n` + '\t}');
    }
  }
  out.push('}', '');
  return { path: meshFilePaths(ctx.mesh, host).pskSecrets, content: out.join('\n'), mode: 0o600, secret: true };
}
