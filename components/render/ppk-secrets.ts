// Post-quantum preshared keys on the host: the PPK_ID each connection sends and the secrets
// file holding the keys (mode 0600, like the PSKs). Keys come in; nothing is generated here.
import type { Host, Inventory } from '../inventory/model.js';
import type { HostPair } from '../topology/host-pair.js';
import { confValue } from './conf-syntax.js';
import { meshFilePaths } from './file-paths.js';
import { meshPpkId, pairPpkId } from './ppk-id.js';
import { checkedPairs } from './mesh-connections.js';
import { renderContext } from './render-context.js';
import { RenderError } from './render-error.js';
import type { RenderedFile } from './rendered-file.js';

export interface PpkSecretsInput {
  readonly inventory: Inventory;
  readonly host: Host;
  readonly pairs: readonly HostPair[];
  /** The pair's PPK (per-peer), in swanctl notation; the compact layout calls it once with undefined. */
  readonly ppkFor: (pair: HostPair | undefined) => string;
}

/** The host's PPKs, or undefined when none of its pairs uses one. */
export function renderPpkSecrets(input: PpkSecretsInput): RenderedFile | undefined {
  const ctx = renderContext(input.inventory);
  const { host } = input;
  const m = ctx.mesh.name;
  const checked = (value: string, pair?: string): string => {
    try {
      return confValue(value, 'PPK');
    } catch (e) {
      // Never echo the value: only say which pair's key is unusable.
      if (e instanceof RenderError) throw new RenderError('the PPK is empty or contains control characters', { code: 'bad-value', mesh: m, host: host.name, ...(pair ? { pair } : {}) });
      throw e;
    }
  };
  const sections: string[] = [];
  const pairs = checkedPairs(ctx, host, input.pairs);
  if (ctx.mesh.layout === 'compact') {
    if (ctx.mesh.quantumResistance !== 'off' && pairs.some((p) => p.enforcement !== 'off')) {
      sections.push(`\tppk-${m} {\n\t\tid = ${meshPpkId(m, ctx.mesh.ppkGeneration)}\n\t\tsecret = ${checked(input.ppkFor(undefined))}\n\t}`);
    }
  } else {
    for (const pair of pairs) {
      if (pair.enforcement === 'off') continue;
      const peer = pair.a === host.name ? pair.b : pair.a;
      const peerHost = ctx.hostsByName.get(peer);
      if (peerHost === undefined || ctx.quantumResistance(pair, host.site, peerHost.site) === 'off') continue;
      sections.push(`\tppk-${m}_${peer} {\n\t\tid = ${pairPpkId(m, pair.a, pair.b, ctx.mesh.ppkGeneration)}\n\t\tsecret = ${checked(input.ppkFor(pair), pair.key)}\n\t}`);
    }
  }
  if (sections.length === 0) return undefined;
  const content = [`# Managed by ipsec-mesh: mesh "${m}", host "${host.name}". SECRET: post-quantum preshared keys, mode 0600.`, 'secrets {', ...sections, '}', ''].join('\n');
  return { path: meshFilePaths(ctx.mesh, host).ppkSecrets, content, mode: 0o600, secret: true };
}
