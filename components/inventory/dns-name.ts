// DNS-safe names. Host, site, mesh, cluster and bypass names end up in file names, swanctl
// connection names and FQDNs, so they are restricted to lowercase RFC 1123 labels.
import { parseAddress } from './ip-address.js';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Undefined when `name` is a DNS label, else why not. */
export function dnsLabelProblem(name: string): string | undefined {
  if (LABEL.test(name)) return undefined;
  return `${JSON.stringify(name)} is not a DNS-safe name: use lowercase letters, digits and "-" (1–63 characters, no "-" at either end)`;
}

/** Undefined when `name` is a dotted DNS name (no trailing dot, ≤ 253 characters), else why not. */
export function dnsNameProblem(name: string): string | undefined {
  const labels = name.split('.');
  const ok =
    name.length <= 253 &&
    labels.every((l) => LABEL.test(l)) &&
    // An all-numeric last label is a mistyped address, not a name.
    !/^[0-9]+$/.test(labels[labels.length - 1]!);
  if (ok) return undefined;
  return `${JSON.stringify(name)} is not a valid DNS name: dot-separated lowercase labels of letters, digits and "-", at most 253 characters`;
}

/** An address (canonicalised) or a DNS name, e.g. where sshd is reached. */
export function parseAddressOrName(text: string): { ok: true; value: string } | { ok: false; message: string } {
  const a = parseAddress(text);
  if (a.ok) return { ok: true, value: a.value.canonical };
  const problem = dnsNameProblem(text);
  if (problem === undefined) return { ok: true, value: text };
  return { ok: false, message: `${JSON.stringify(text)} is neither a valid IP address nor a DNS name` };
}
