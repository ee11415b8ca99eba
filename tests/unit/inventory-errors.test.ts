// Table of malformed inventories: each must fail with exactly the listed issues — path,
// message and (from the `#<` markers) line — and nothing else, so no typo cascades.
import { describe, expect, it } from 'vitest';
import { InventoryError, loadInventoryYaml, type InventoryIssue } from '../../components/inventory/index.js';
import { BASE, HOST_KEY_1, inventoryYaml, markedLines } from './fixtures/inventory/base-inventory.js';

const FILE = 'inventory.yaml';

interface Case {
  readonly name: string;
  readonly yaml: string;
  /** Expected issues in report order; the n-th issue is on the n-th `#<` line. */
  readonly issues: readonly { readonly path: string; readonly message: string }[];
}

/** Base hosts plus more host entries (YAML list items, indented by two). */
const hostsPlus = (extra: string): string => `${BASE.hosts}\n${extra}`;
const host = (name: string, site: string, v4: string, rest = ''): string =>
  `  - { name: ${name}, site: ${site}, addresses: { ipv4: [${v4}] }${rest} }`;

const CASES: readonly Case[] = [
  // --- YAML itself -----------------------------------------------------------------------
  {
    name: 'YAML syntax error carries the parser line',
    yaml: inventoryYaml({ mesh: 'mesh:\n  name: dc-mesh\n   domain: example.net #<' }),
    issues: [{ path: '', message: 'YAML syntax error: bad indentation of a mapping entry (column 10)' }],
  },
  {
    name: 'duplicated key',
    yaml: inventoryYaml({ mesh: 'mesh:\n  name: dc-mesh\n  name: other #<' }),
    issues: [{ path: '', message: 'YAML syntax error: duplicated mapping key (column 3)' }],
  },
  {
    name: 'tab in indentation',
    yaml: inventoryYaml({ mesh: 'mesh:\n\tname: dc-mesh #<' }),
    issues: [{ path: '', message: 'YAML syntax error: tab characters must not be used in indentation (column 1)' }],
  },
  {
    name: 'empty document',
    yaml: '# nothing here #<\n',
    issues: [{ path: '', message: 'the inventory is empty' }],
  },
  {
    name: 'document is a list',
    yaml: '- mesh: {} #<\n',
    issues: [{ path: '', message: 'the inventory must be a mapping with mesh, sites, hosts and rules, got a list of 1' }],
  },
  // --- structure, types, unknown keys ----------------------------------------------------
  {
    name: 'unknown top-level key',
    yaml: `${inventoryYaml()}extra: 1 #<\n`,
    issues: [{ path: 'extra', message: 'unknown key "extra" (expected one of: mesh, sites, hosts, rules)' }],
  },
  {
    name: 'typo in a host key suggests the right one',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    clutser: text #<\n    addresses: { ipv4: [198.51.100.131] }') }),
    issues: [{ path: 'hosts[3].clutser', message: 'unknown key "clutser" (did you mean "cluster"?)' }],
  },
  {
    name: 'unknown key in an address entry',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses:\n      ipv4: [{ address: 198.51.100.131, netwrk: lan }] #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0].netwrk', message: 'unknown key "netwrk" (did you mean "network"?)' }],
  },
  {
    name: 'missing required mesh name',
    yaml: inventoryYaml({ mesh: 'mesh: #<\n  domain: example.net' }),
    issues: [{ path: 'mesh.name', message: 'required field is missing' }],
  },
  {
    name: 'missing rules section',
    yaml: `${BASE.mesh.replace('mesh:', 'mesh: #<')}\n${BASE.sites}\n${BASE.hosts}\n`,
    issues: [{ path: 'rules', message: 'required field is missing' }],
  },
  {
    name: 'wrong type: port as a string',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', ssh: { port: "22" }')} #<`) }),
    issues: [{ path: 'hosts[3].ssh.port', message: 'expected a number, got string "22"' }],
  },
  {
    name: 'wrong type: hosts is a scalar (no cascade into rules)',
    yaml: inventoryYaml({ hosts: 'hosts: cp1 #<' }),
    issues: [{ path: 'hosts', message: 'expected a list, got string "cp1"' }],
  },
  {
    name: 'wrong type: empty sites value (no cascade into hosts)',
    yaml: inventoryYaml({ sites: 'sites: #<' }),
    issues: [{ path: 'sites', message: 'expected a list, got null (an empty value)' }],
  },
  {
    name: 'wrong type: address as a number',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses: { ipv4: [5] } #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: 'expected an address string or a mapping { address, network, public }' }],
  },
  {
    name: 'enum value not allowed',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  layout: full-mesh #<` }),
    issues: [{ path: 'mesh.layout', message: 'expected one of "per-peer", "compact", got string "full-mesh"' }],
  },
  {
    name: 'mssClamp takes auto, on or off (not a boolean)',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  mssClamp: true #<` }),
    issues: [{ path: 'mesh.mssClamp', message: 'expected one of "auto", "on", "off", got boolean true' }],
  },
  {
    name: 'a pair of three hosts',
    yaml: inventoryYaml({ rules: 'rules:\n  - pairs: [[cp1, cp2, cp3]] #<' }),
    issues: [{ path: 'rules[0].pairs[0]', message: 'allows at most 2 items, got a list of 3' }],
  },
  // --- names -----------------------------------------------------------------------------
  {
    name: 'DNS-unsafe host name',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('CP_4', 'esams', '198.51.100.131')} #<`) }),
    issues: [{ path: 'hosts[3].name', message: '"CP_4" is not a DNS-safe name: use lowercase letters, digits and "-" (1–63 characters, no "-" at either end)' }],
  },
  {
    name: 'DNS-unsafe mesh name',
    yaml: inventoryYaml({ mesh: 'mesh:\n  name: -mesh #<' }),
    issues: [{ path: 'mesh.name', message: '"-mesh" is not a DNS-safe name: use lowercase letters, digits and "-" (1–63 characters, no "-" at either end)' }],
  },
  {
    name: 'DNS-unsafe site name (hosts using it are not reported again)',
    yaml: inventoryYaml({ sites: `${BASE.sites}\n  - { name: ams.1 } #<`, hosts: hostsPlus(host('cp4', 'ams.1', '198.51.100.140')) }),
    issues: [{ path: 'sites[2].name', message: '"ams.1" is not a DNS-safe name: use lowercase letters, digits and "-" (1–63 characters, no "-" at either end)' }],
  },
  {
    name: 'DNS-unsafe bypass name',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  bypass: [{ name: Old VPN, protocol: udp, port: 1194 }] #<` }),
    issues: [{ path: 'mesh.bypass[0].name', message: '"Old VPN" is not a DNS-safe name: use lowercase letters, digits and "-" (1–63 characters, no "-" at either end)' }],
  },
  {
    name: 'invalid domain',
    yaml: inventoryYaml({ mesh: 'mesh:\n  name: dc-mesh\n  domain: example..net #<' }),
    issues: [{ path: 'mesh.domain', message: '"example..net" is not a valid DNS name: dot-separated lowercase labels of letters, digits and "-", at most 253 characters' }],
  },
  {
    name: 'duplicate host name',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp2', 'esams', '198.51.100.131')} #<`) }),
    issues: [{ path: 'hosts[3].name', message: 'duplicate host name "cp2" (first at hosts[1])' }],
  },
  {
    name: 'duplicate site name',
    yaml: inventoryYaml({ sites: `${BASE.sites}\n  - { name: eqiad } #<` }),
    issues: [{ path: 'sites[2].name', message: 'duplicate site name "eqiad" (first at sites[0])' }],
  },
  {
    name: 'an e-mail identity with certificates (the CA cannot put it in a certificate)',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', identity: cp4@example.net')} #<`) }),
    issues: [
      {
        path: 'hosts[3].identity',
        message: `IKE identity "cp4@example.net" is an e-mail address, which the mesh's certificates cannot carry (the CA signs subject, DNS names and addresses only): use the host's FQDN, an address or a DN, or mesh.auth psk`,
      },
    ],
  },
  {
    name: 'revoked in a PSK mesh (no certificate to revoke)',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  auth: psk`, hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', revoked: true')} #<`) }),
    issues: [
      {
        path: 'hosts[3].revoked',
        message: 'revokes a certificate, but the mesh uses PSKs: remove the host (its pair keys go with it), or rotate the PSKs (pskGeneration)',
      },
    ],
  },
  {
    name: 'a DN identity the certificate tooling cannot write',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', identity: "CN=cp4+OU=x"')} #<`) }),
    issues: [
      {
        path: 'hosts[3].identity',
        message: `IKE identity "CN=cp4+OU=x" looks like a DN but is not a list of type=value parts (e.g. "C=CH, O=Example, CN=alpha") without "+", "/", "'", "$" or backquotes`,
      },
    ],
  },
  {
    name: 'duplicate IKE identity',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', identity: cp1.eqiad.example.net')} #<`) }),
    issues: [{ path: 'hosts[3].identity', message: 'IKE identity "cp1.eqiad.example.net" is also the identity of host "cp1"' }],
  },
  // --- addresses and prefixes ------------------------------------------------------------
  {
    name: 'invalid IPv6 address',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses:\n      ipv6: ["2001:db8::zz"] #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: '"2001:db8::zz" is not a valid IPv6 address' }],
  },
  {
    name: 'invalid IPv4 address',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.300')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: '"198.51.100.300" is not a valid IPv4 address' }],
  },
  {
    name: 'IPv4 shorthand is not accepted',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.33156')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: '"198.51.33156" is not a valid IPv4 address' }],
  },
  {
    name: 'IPv6 address in the ipv4 list',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '"2001:db8:3::11"')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: '"2001:db8:3::11" is an IPv6 address, listed under ipv4' }],
  },
  {
    name: 'IPv4 address in the ipv6 list',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses: { ipv6: [198.51.100.131] } #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: '"198.51.100.131" is an IPv4 address, listed under ipv6' }],
  },
  {
    name: 'IPv4-mapped IPv6 address',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses: { ipv6: ["::ffff:198.51.100.131"] } #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: '"::ffff:198.51.100.131" is an IPv4-mapped IPv6 address; list 198.51.100.131 under ipv4 instead' }],
  },
  {
    name: 'unquoted IPv6 address ending in :: (YAML reads a mapping)',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses:\n      ipv6:\n        - 2001:db8:3:: #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: '2001:db8:3:: must be quoted ("2001:db8:3::"): unquoted, YAML reads an address ending in "::" as a mapping key' }],
  },
  {
    name: 'IPv6 address with a zone index',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esams\n    addresses: { ipv6: ["fe80::1%eth0"] } #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: '"fe80::1%eth0" has a zone index (%eth0); host addresses must be global' }],
  },
  {
    name: 'loopback address',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '127.0.0.1')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: '"127.0.0.1" is a loopback address, not a host address' }],
  },
  {
    name: 'duplicate address across hosts',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'eqiad', '198.51.100.11')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: 'address 198.51.100.11 is already used at hosts[1].addresses.ipv4[0] (host "cp2")' }],
  },
  {
    name: 'duplicate address across hosts, compared canonically',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: eqiad\n    addresses: { ipv6: ["2001:DB8:1:0:0:0:0:10"] } #<') }),
    issues: [{ path: 'hosts[3].addresses.ipv6[0]', message: 'address 2001:db8:1::10 is already used at hosts[0].addresses.ipv6[0] (host "cp1")' }],
  },
  {
    name: 'address outside the site prefixes',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.20')} #<`) }),
    issues: [{ path: 'hosts[3].addresses.ipv4[0]', message: 'address 198.51.100.20 is outside the ipv4 prefixes of site "esams" (198.51.100.128/25)' }],
  },
  {
    name: 'host with no address',
    yaml: inventoryYaml({ hosts: hostsPlus('  - { name: cp4, site: esams, addresses: {} } #<') }),
    issues: [{ path: 'hosts[3].addresses', message: 'host has no address: give at least one of addresses.ipv4, addresses.ipv6' }],
  },
  {
    name: 'unknown site',
    yaml: inventoryYaml({ hosts: hostsPlus('  - name: cp4\n    site: esasm #<\n    addresses: { ipv4: [198.51.100.131] }') }),
    issues: [{ path: 'hosts[3].site', message: 'unknown site "esasm" (known: eqiad, esams)' }],
  },
  {
    name: 'CIDR prefix with host bits set',
    yaml: inventoryYaml({ sites: `${BASE.sites}\n  - { name: ulsfo, prefixes: [203.0.113.1/24] } #<` }),
    issues: [{ path: 'sites[2].prefixes[0]', message: '"203.0.113.1/24" has host bits set (the prefix is 203.0.113.0/24)' }],
  },
  {
    name: 'prefix without a length',
    yaml: inventoryYaml({ sites: `${BASE.sites}\n  - { name: ulsfo, prefixes: [203.0.113.0] } #<` }),
    issues: [{ path: 'sites[2].prefixes[0]', message: '"203.0.113.0" is not a CIDR prefix (expected address/length, e.g. 198.51.100.0/24)' }],
  },
  {
    name: 'overlapping site prefixes',
    yaml: inventoryYaml({ sites: `${BASE.sites}\n  - { name: ulsfo, prefixes: ["2001:db8:3:8000::/49"] } #<` }),
    issues: [{ path: 'sites[2].prefixes[0]', message: 'prefix 2001:db8:3:8000::/49 overlaps 2001:db8:3::/48 at sites[1].prefixes[1] (site "esams")' }],
  },
  {
    name: 'site MTU too small for IPv6',
    yaml: inventoryYaml({ sites: 'sites:\n  - { name: eqiad, mtu: 1200 } #<\n  - { name: esams }' }),
    issues: [{ path: 'sites[0].mtu', message: 'MTU 1200 is below 1280, the minimum IPv6 needs, and the site carries IPv6' }],
  },
  // --- ssh -------------------------------------------------------------------------------
  {
    name: 'ssh port out of range',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', ssh: { port: 70000 }')} #<`) }),
    issues: [{ path: 'hosts[3].ssh.port', message: 'must be at most 65535, got number 70000' }],
  },
  {
    name: 'truncated host key',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', `, ssh: { hostKey: "${HOST_KEY_1.slice(0, 40)}" }`)} #<`) }),
    issues: [{ path: 'hosts[3].ssh.hostKey', message: `"${HOST_KEY_1.slice(0, 40)}" has a key blob that does not encode a ssh-ed25519 key (truncated or mismatched paste?)` }],
  },
  {
    name: 'host key of unknown type',
    yaml: inventoryYaml({ hosts: hostsPlus(`${host('cp4', 'esams', '198.51.100.131', ', ssh: { hostKey: "ssh-dss AAAAB3NzaC1kc3M=" }')} #<`) }),
    issues: [{ path: 'hosts[3].ssh.hostKey', message: '"ssh-dss AAAAB3NzaC1kc3M=" has unknown key type "ssh-dss" (expected one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)' }],
  },
  // --- mesh settings ---------------------------------------------------------------------
  {
    name: 'empty proposal string',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  proposals: [aes256gcm16-prfsha384-ecp384, ""] #<` }),
    issues: [{ path: 'mesh.proposals[1]', message: '"" is not a proposal: lowercase algorithm keywords joined by "-" (e.g. aes256gcm16-prfsha384-ecp384)' }],
  },
  {
    name: 'ESP proposal with a PRF',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  espProposals: [aes256gcm16-prfsha384-ecp384] #<` }),
    issues: [{ path: 'mesh.espProposals[0]', message: '"aes256gcm16-prfsha384-ecp384" names a PRF, which only IKE proposals take' }],
  },
  {
    name: 'non-positive lifetime',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  lifetimes:\n    childRekeySeconds: 0 #<` }),
    issues: [{ path: 'mesh.lifetimes.childRekeySeconds', message: 'must be at least 1, got number 0' }],
  },
  {
    name: 'bypass port on a protocol without ports',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  bypass:\n    - { name: ping, protocol: icmp, port: 8 } #<` }),
    issues: [{ path: 'mesh.bypass[0].port', message: 'a port applies to tcp or udp only, not icmp' }],
  },
  {
    name: 'bypass that would let all tcp through',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  bypass:\n    - { name: web, protocol: tcp } #<` }),
    issues: [{ path: 'mesh.bypass[0]', message: 'would let all tcp traffic bypass the mesh; narrow it with a port or cidrs' }],
  },
  {
    name: 'compact layout with PSK',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  layout: compact\n  auth: psk #<` }),
    issues: [{ path: 'mesh.auth', message: 'layout "compact" needs auth "certificate": its one connection accepts any peer (remote_addrs = %any), which only the mesh CA can authenticate; per-pair PSKs need layout "per-peer"' }],
  },
  {
    name: 'compact layout with enforcement use',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  layout: compact\n  enforcement: use #<` }),
    issues: [{ path: 'mesh.enforcement', message: 'enforcement "use" is impossible with layout "compact": its connection has no concrete peer to start, so only "off" and "require" (trap) can be honoured; use layout "per-peer" for a "use" stage' }],
  },
  {
    name: 'compact layout with a site staged at use',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  layout: compact`, sites: `${BASE.sites}\n  - { name: ulsfo, enforcement: use } #<` }),
    issues: [{ path: 'sites[2].enforcement', message: 'enforcement "use" is impossible with layout "compact": its connection has no concrete peer to start, so only "off" and "require" (trap) can be honoured; use layout "per-peer" for a "use" stage' }],
  },
  {
    name: 'compact layout with a pair override to use',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  layout: compact\n  pairOverrides: [{ hosts: [cp1, cp3], enforcement: use }] #<` }),
    issues: [{ path: 'mesh.pairOverrides[0].enforcement', message: 'enforcement "use" is impossible with layout "compact": its connection has no concrete peer to start, so only "off" and "require" (trap) can be honoured; use layout "per-peer" for a "use" stage' }],
  },
  {
    name: 'pair override naming an unknown host',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  pairOverrides: [{ hosts: [cp1, cp9], enforcement: use }] #<` }),
    issues: [{ path: 'mesh.pairOverrides[0].hosts[1]', message: 'unknown host "cp9" (known: cp1, cp2, cp3)' }],
  },
  {
    name: 'pair override for hosts no rule pairs',
    yaml: inventoryYaml({ mesh: `${BASE.mesh}\n  pairOverrides: [{ hosts: [cp1, cp2], enforcement: off }] #<` }),
    issues: [{ path: 'mesh.pairOverrides[0].hosts', message: '"cp1" and "cp2" are not a pair of this mesh (no rule pairs them)' }],
  },
  // --- rules -----------------------------------------------------------------------------
  {
    name: 'selector naming an unknown cluster',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [txet] } #<' }),
    issues: [{ path: 'rules[0].mesh.clusters[0]', message: 'unknown cluster "txet" (known: text, upload)' }],
  },
  {
    name: 'selector naming an unknown site',
    yaml: inventoryYaml({ rules: 'rules:\n  - between: { from: { sites: [esams] }, to: { sites: [codfw] } } #<' }),
    issues: [{ path: 'rules[0].between.to.sites[0]', message: 'unknown site "codfw" (known: eqiad, esams)' }],
  },
  {
    name: 'selector naming an unknown tag',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { tags: [cache, edge] } #<' }),
    issues: [{ path: 'rules[0].mesh.tags[1]', message: 'unknown tag "edge" (known: cache)' }],
  },
  {
    name: 'rule matching no host',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { sites: [eqiad], clusters: [text], tags: [cache], hosts: [cp3] } #<' }),
    issues: [{ path: 'rules[0].mesh', message: 'matches no host' }],
  },
  {
    name: 'mesh matching a single host',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [upload] } #<' }),
    issues: [{ path: 'rules[0].mesh', message: 'matches only host "cp2"; a mesh needs at least two' }],
  },
  {
    name: 'mesh by cluster where no cluster has two hosts',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { sites: [eqiad], by: cluster } #<' }),
    issues: [{ path: 'rules[0].mesh', message: 'by: cluster, but no cluster has two matched hosts, so it pairs nothing' }],
  },
  {
    name: 'between whose sides are the same single host',
    yaml: inventoryYaml({ rules: 'rules:\n  - between: { from: { hosts: [cp2] }, to: { clusters: [upload] } } #<' }),
    issues: [{ path: 'rules[0].between', message: 'from and to both match only host "cp2", so it pairs nothing' }],
  },
  {
    name: 'empty selector',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: {} #<' }),
    issues: [{ path: 'rules[0].mesh', message: 'a selector needs at least one of sites, clusters, tags, hosts' }],
  },
  {
    name: 'host paired with itself',
    yaml: inventoryYaml({ rules: 'rules:\n  - pairs: [[cp1, cp3], [cp2, cp2]] #<' }),
    issues: [{ path: 'rules[0].pairs[1]', message: 'pairs host "cp2" with itself' }],
  },
  {
    name: 'explicit pair with an unknown host',
    yaml: inventoryYaml({ rules: 'rules:\n  - pairs: [[cp1, cp4]] #<' }),
    issues: [{ path: 'rules[0].pairs[0][1]', message: 'unknown host "cp4" (known: cp1, cp2, cp3)' }],
  },
  {
    name: 'explicit pair listed twice',
    yaml: inventoryYaml({ rules: 'rules:\n  - pairs: [[cp1, cp2]]\n  - pairs: [[cp2, cp1]] #<' }),
    issues: [{ path: 'rules[1].pairs[0]', message: 'pair cp2–cp1 is already listed at rules[0].pairs[0]' }],
  },
  {
    name: 'explicit pair sharing no address family',
    yaml: inventoryYaml({
      hosts: hostsPlus('  - { name: cp4, site: esams, addresses: { ipv6: ["2001:db8:3::11"] } }\n  - { name: cp5, site: esams, addresses: { ipv4: [198.51.100.131] } }'),
      rules: 'rules:\n  - pairs: [[cp4, cp5]] #<',
    }),
    issues: [{ path: 'rules[0].pairs[0]', message: 'hosts "cp4" and "cp5" share no address family' }],
  },
  {
    name: 'rule with two kinds',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [text] } #<\n    pairs: [[cp1, cp2]]' }),
    issues: [{ path: 'rules[0]', message: 'a rule takes exactly one of mesh, between, pairs, exclude (got mesh, pairs)' }],
  },
  {
    name: 'rule with no kind',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [text] }\n  - network: default #<' }),
    issues: [{ path: 'rules[1]', message: 'a rule needs one of mesh, between, pairs, exclude' }],
  },
  {
    name: 'rule on a network no host has',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [text] }\n    network: lan #<' }),
    issues: [{ path: 'rules[0].network', message: 'no host has an address on network "lan" (known: default)' }],
  },
  {
    name: 'exclude with a network',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [text] }\n  - exclude: { hosts: [cp3] }\n    network: default #<' }),
    issues: [{ path: 'rules[1].network', message: 'an exclude rule takes no network (it removes pairs whatever their addresses)' }],
  },
  {
    name: 'exclude of a pair no rule creates',
    yaml: inventoryYaml({ rules: 'rules:\n  - mesh: { clusters: [text] }\n  - exclude: { pairs: [[cp1, cp2]] } #<' }),
    issues: [{ path: 'rules[1].exclude.pairs[0]', message: 'no rule pairs "cp1" and "cp2", so there is nothing to exclude' }],
  },
  {
    name: 'exclude selector matching only unpaired hosts',
    yaml: inventoryYaml({ rules: 'rules:\n  - exclude: { clusters: [upload] } #<\n  - mesh: { clusters: [text] }' }),
    issues: [{ path: 'rules[0].exclude', message: 'the hosts it matches (cp2) are in no pair rule, so there is nothing to exclude' }],
  },
  {
    name: 'empty mesh: no rules',
    yaml: inventoryYaml({ rules: 'rules: [] #<' }),
    issues: [{ path: 'rules', message: 'no rules: the mesh would encrypt nothing (empty mesh)' }],
  },
  {
    name: 'empty mesh: only excludes',
    yaml: inventoryYaml({ rules: 'rules: #<\n  - exclude: { pairs: [[cp1, cp3]] } #<' }),
    issues: [
      { path: 'rules', message: 'only exclude rules: the mesh would encrypt nothing (empty mesh)' },
      { path: 'rules[0].exclude.pairs[0]', message: 'no rule pairs "cp1" and "cp3", so there is nothing to exclude' },
    ],
  },
  {
    name: 'fewer than two hosts',
    yaml: inventoryYaml({ hosts: 'hosts: #<\n  - { name: cp1, site: eqiad, addresses: { ipv4: [198.51.100.10] } }', rules: 'rules:\n  - pairs: [[cp1, cp1]] #<' }),
    issues: [
      { path: 'hosts', message: 'the mesh needs at least two hosts, got 1' },
      { path: 'rules[0].pairs[0]', message: 'pairs host "cp1" with itself' },
    ],
  },
];

function issuesOf(yaml: string): readonly InventoryIssue[] {
  try {
    loadInventoryYaml(yaml, FILE);
  } catch (e) {
    if (e instanceof InventoryError) return e.issues;
    throw e;
  }
  throw new Error('inventory was accepted');
}

describe('malformed inventories', () => {
  it('has at least 30 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CASES)('$name', ({ yaml, issues }) => {
    const lines = markedLines(yaml);
    expect(lines, 'each expected issue needs its #< line marker').toHaveLength(issues.length);
    const expected = issues.map((iss, i) => ({ file: FILE, path: iss.path, line: lines[i], message: iss.message }));
    expect(issuesOf(yaml)).toEqual(expected);
  });
});
