// A stack's settings file (`Pulumi.<stack>.yaml`, or the file given with --config-file) as
// the ConfigSource the stack program reads through pulumi.Config: the same keys, the same
// string forms (structured values as JSON, as `pulumi config get` prints them).
import { readFile } from 'node:fs/promises';
import { load } from 'js-yaml';
import { CONFIG_NAMESPACE, StackConfigError, type ConfigSource } from '../mesh/stack-settings.js';

export class StackConfigFileError extends Error {
  override readonly name = 'StackConfigFileError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The `ipsec-mesh:` keys of a stack settings file. Secret (`secure:`) values cannot be read
 * without the stack's secrets provider: asking for one as plain text fails, naming the key.
 */
export async function readStackConfigFile(path: string): Promise<ConfigSource> {
  let doc: unknown;
  try {
    doc = load(await readFile(path, 'utf8'));
  } catch (e) {
    throw new StackConfigFileError(`${path}: ${(e as Error).message}`);
  }
  const config = isRecord(doc) ? doc.config : undefined;
  if (doc !== undefined && doc !== null && (!isRecord(doc) || (config !== undefined && config !== null && !isRecord(config)))) {
    throw new StackConfigFileError(`${path}: not a Pulumi stack settings file (expected a "config:" mapping)`);
  }
  const values = new Map<string, unknown>();
  for (const [k, v] of Object.entries(isRecord(config) ? config : {})) {
    if (k.startsWith(`${CONFIG_NAMESPACE}:`)) values.set(k.slice(CONFIG_NAMESPACE.length + 1), v);
  }
  return {
    get(key) {
      const v = values.get(key);
      if (v === undefined || v === null) return undefined;
      if (isRecord(v) && typeof v.secure === 'string') throw new StackConfigError(key, `is a secret in ${path}; render reads plain keys only`);
      return typeof v === 'string' ? v : JSON.stringify(v);
    },
    // Render needs no secret (SSH keys are for pushing); the stack program reads them.
    getSecret: () => undefined,
  };
}
