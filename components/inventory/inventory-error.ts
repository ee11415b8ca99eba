// Typed, collected inventory problems: every issue names the file, the path inside the
// inventory and, when the parser knows it, the 1-based line.

export interface InventoryIssue {
  readonly file: string;
  /** Path inside the inventory, e.g. `hosts[3].addresses.ipv6[0]`; '' for the whole document. */
  readonly path: string;
  /** 1-based line in `file`, when the inventory came from YAML and the node could be located. */
  readonly line?: number;
  readonly message: string;
}

export type PathSegment = string | number;

/** `['hosts', 3, 'addresses', 'ipv6', 0]` → `hosts[3].addresses.ipv6[0]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`; // keys a user mistyped may hold anything
  }
  return out;
}

/** `inventory.yaml:14: hosts[3].addresses.ipv6[0]: "2001:db8::zz" is not a valid IPv6 address` */
export function formatIssue(issue: InventoryIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  readonly file: string;
  readonly issues: readonly InventoryIssue[];

  constructor(file: string, issues: readonly InventoryIssue[]) {
    const n = issues.length;
    super(`${file}: ${n} problem${n === 1 ? '' : 's'} in the inventory\n${issues.map(formatIssue).join('\n')}`);
    this.file = file;
    this.issues = issues;
  }

  /** One line per issue, ready for stderr. */
  format(): string {
    return this.issues.map(formatIssue).join('\n');
  }
}
