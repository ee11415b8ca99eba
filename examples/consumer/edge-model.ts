// The same mesh as inventory.yaml, written as typed objects instead of YAML: sites, hosts and
// pair rules checked by the compiler, built with ordinary code (here: hosts from a list).
// `new IpsecMesh('edge', { inventory: edgeInventory(), … })` makes exactly the resources the
// YAML file does (test/edge-mesh.test.ts compares the two).
import type { HostInput, InventoryInput, SiteInput } from 'ipsec-mesh';

const sites: SiteInput[] = [
  { name: 'ams', prefixes: ['198.51.100.0/24'] },
  { name: 'fra', prefixes: ['203.0.113.0/24'] },
];

/** name, site, IPv4 address, pinned sshd key (`ipsec-mesh hostkeys scan` prints these), SSH user. */
const machines: [string, string, string, string, string?][] = [
  ['web1', 'ams', '198.51.100.11', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBA+9HDWvfwi8lcYdNk+rEoLOlP1GOfvL38l37gV32qU'],
  ['web2', 'ams', '198.51.100.12', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAgJvi9SswsGGhC4tu5Q2dE3CoTNNmRrPw4zndxFVulK'],
  ['db1', 'fra', '203.0.113.21', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID19M8RlIvrfvmSw4Mu5G8cJAnYXH+8PcElTIL7ujGVe', 'deploy'],
];

const hosts: HostInput[] = machines.map(([name, site, ipv4, hostKey, user]) => ({
  name,
  site,
  addresses: { ipv4: [ipv4] },
  ssh: { hostKey, ...(user ? { user } : {}) },
}));

export function edgeInventory(): InventoryInput {
  return {
    mesh: { name: 'edge', domain: 'example.net', enforcement: 'use' },
    sites,
    hosts,
    // Every web host with every database host; none within a site.
    rules: [{ between: { from: { sites: ['ams'] }, to: { sites: ['fra'] } } }],
  };
}
