// The stack program (Pulumi.yaml `main: dist/stacks/index.js`): reads the inventory and
// options from stack config, checks the hosts for drift (in an `up` only), builds the mesh,
// exports per-host summaries and the CA.
//
//   pulumi config set ipsec-mesh:inventory examples/inventories/two-sites.yaml
//   pulumi config set --secret ipsec-mesh:sshPrivateKey < ~/.ssh/id_ed25519
//   pulumi up
import { readFile } from 'node:fs/promises';
import * as pulumi from '@pulumi/pulumi';
import { loadInventoryFile } from '../components/inventory/load-inventory.js';
import { IpsecMesh } from '../components/mesh/ipsec-mesh.js';
import { CONFIG_NAMESPACE, StackConfigError, readStackSettings } from './stack-config.js';
import { driftedHosts } from './drift-before-up.js';

const config = new pulumi.Config(CONFIG_NAMESPACE);
// The language host runs the program in the project directory; the engine also says so.
const projectDir = pulumi.runtime.getRootDirectory() || process.cwd();
const settings = readStackSettings({ get: (k) => config.get(k), getSecret: (k) => config.getSecret(k) }, projectDir);

const inventory = await loadInventoryFile(settings.inventoryPath);

let privateKey: pulumi.Output<string>;
let keyText: string | undefined;
if (settings.sshKey.kind === 'secret') {
  privateKey = settings.sshKey.value;
} else {
  const path = settings.sshKey.path;
  keyText = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new StackConfigError('sshPrivateKeyFile', `cannot read ${path} (${e.code ?? e.message})`);
  });
  privateKey = pulumi.secret(keyText);
}

// Drift is looked for in an `up` only (a preview, e.g. CI, reaches no host), beside the
// engine: the mesh is registered first, drifted hosts get their repair once the check is done.
const drift =
  settings.driftCheck && !pulumi.runtime.isDryRun()
    ? driftedHosts(inventory, keyText ?? pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:sshPrivateKey`) ?? '')
    : Promise.resolve([]);

const mesh = new IpsecMesh(inventory.mesh.name, { inventory, ...settings.args, ssh: { ...settings.ssh, privateKey } });
mesh.repair(await drift);

export const meshName = mesh.meshName;
export const hosts = mesh.hosts;
export const caCertificatePem = mesh.caCertificatePem;
export const caCertificates = mesh.caCertificates;
// Per unmanaged host (managed: false): its side to type in, and (secret) its keys. Empty
// objects without one: an undefined export would warn on every run.
export const peerSheets = mesh.peerSheets;
export const unmanagedPeerSecrets = mesh.unmanagedPeerSecrets;
export const unmanagedPeerPpks = mesh.unmanagedPeerPpks;
