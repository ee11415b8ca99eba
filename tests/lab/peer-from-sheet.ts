// A stand-in for the engineer at an unmanaged peer's console: reads the text of
// `ipsec-mesh peer-sheet` and nothing else (not the product's renderer, not the inventory),
// and writes a swanctl configuration from it, as a person typing it into a router would.

export interface SheetConnection {
  readonly name: string;
  readonly fields: ReadonlyMap<string, string>;
}

export interface ParsedSheet {
  readonly common: ReadonlyMap<string, string>;
  /** Every `keep outside IPsec` line (the label repeats). */
  readonly bypass: readonly string[];
  readonly connections: readonly SheetConnection[];
}

/** `label: value` lines under `for every connection` and under each `connection NAME`. */
export function parseSheet(text: string): ParsedSheet {
  const common = new Map<string, string>();
  const bypass: string[] = [];
  const connections: { name: string; fields: Map<string, string> }[] = [];
  let into: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line === 'for every connection') into = common;
    else if (line.startsWith('connection ')) {
      const c = { name: line.slice('connection '.length).trim(), fields: new Map<string, string>() };
      connections.push(c);
      into = c.fields;
    } else if (into !== undefined && /^ {2}\S/.test(line)) {
      const i = line.indexOf(':');
      const label = line.slice(2, i).trim();
      if (label === 'keep outside IPsec') bypass.push(line.slice(i + 1).trim());
      else into.set(label, line.slice(i + 1).trim());
    }
  }
  return { common, bypass, connections };
}

/** The first word of a value (`14400 s (rekey…)` → `14400`). */
const first = (v: string | undefined): string => (v ?? '').split(/\s+/)[0] ?? '';

/**
 * swanctl.conf text for the sheet; `secretOf(connection)` is the key its command printed, and
 * `ppkOf(connection)` the post-quantum preshared key its PPK command printed (when it has one).
 */
export function swanctlFromSheet(sheet: ParsedSheet, secretOf: (c: SheetConnection) => string, ppkOf: (c: SheetConnection) => string): string {
  const c0 = sheet.common;
  const mode = first(c0.get('mode'));
  const childRekey = (c0.get('CHILD rekey') ?? '').match(/^(\d+) s or (\d+) bytes/);
  const out = ['connections {'];
  const secrets = ['secrets {'];
  for (const c of sheet.connections) {
    const f = (k: string): string => {
      const v = c.fields.get(k);
      if (v === undefined) throw new Error(`sheet: connection ${c.name} has no "${k}"`);
      return v;
    };
    const start = f('start').match(/\(start (\S+), dpd (\S+), close (\S+)\)/);
    if (start === null) throw new Error(`sheet: connection ${c.name}: unreadable start line`);
    const ppkLevel = f('post-quantum PPK');
    const ppkId = c.fields.get('PPK id');
    if ((ppkLevel === 'none') !== (ppkId === undefined)) throw new Error(`sheet: connection ${c.name}: PPK level "${ppkLevel}" and PPK id disagree`);
    out.push(
      `  ${c.name} {`,
      `    version = ${c0.get('IKE version')}`,
      `    proposals = ${first(c.fields.get('IKE proposals') ?? c0.get('IKE proposals'))}`,
      `    local_addrs = ${f('local address')}`,
      `    remote_addrs = ${f('remote address')}`,
      `    rekey_time = ${first(c0.get('IKE rekey'))}s`,
      '    reauth_time = 0',
      `    dpd_delay = ${first(c0.get('DPD delay'))}s`,
      '    mobike = no',
      `    encap = ${f('UDP encapsulation').startsWith('forced') ? 'yes' : 'no'}`,
      ...(ppkId === undefined ? [] : [`    ppk_id = ${ppkId}`, `    ppk_required = ${/\brequired\b/.test(ppkLevel) ? 'yes' : 'no'}`]),
      `    local { auth = psk\n      id = ${f('local identity')} }`,
      `    remote { auth = psk\n      id = ${f('remote identity')} }`,
      '    children {',
      `      ${c.name} {`,
      `        mode = ${mode}`,
      `        esp_proposals = ${c.fields.get('ESP proposals') ?? c0.get('ESP proposals')}`,
      `        local_ts = ${f('local selector')}`,
      `        remote_ts = ${f('remote selector')}`,
      `        rekey_time = ${childRekey?.[1] ?? ''}s`,
      `        rekey_bytes = ${childRekey?.[2] ?? ''}`,
      `        start_action = ${start[1]}`,
      `        dpd_action = ${start[2]}`,
      `        close_action = ${start[3]}`,
      '      }',
      '    }',
      '  }',
    );
    secrets.push(`  ike-${c.name} {\n    id-a = ${f('local identity')}\n    id-b = ${f('remote identity')}\n    secret = ${secretOf(c)}\n  }`);
    if (ppkId !== undefined) secrets.push(`  ppk-${c.name} {\n    id = ${ppkId}\n    secret = ${ppkOf(c)}\n  }`);
  }
  // The messages to keep outside IPsec: pass policies that win over the connections' traps.
  out.push('  sheet-pass {', '    remote_addrs = 127.0.0.1', '    children {');
  sheet.bypass.forEach((line, n) => {
    const m = line.match(/^(icmp|ipv6-icmp) type (\d+)(?: code (\d+))?/);
    if (m === null) throw new Error(`sheet: unreadable "keep outside IPsec" line: ${line}`);
    const v6 = m[1] === 'ipv6-icmp';
    const port = m[3] === undefined ? Number(m[2]) : Number(m[2]) * 256 + Number(m[3]);
    const ts = `${v6 ? '::/0' : '0.0.0.0/0'}[${v6 ? 58 : 1}/${port}]`;
    out.push(`      pass-${n} {`, '        mode = pass', '        start_action = trap', '        priority = 100', `        local_ts = ${ts}`, `        remote_ts = ${ts}`, '      }');
  });
  out.push('    }', '  }');
  out.push('}', ...secrets, '}', '');
  return out.join('\n');
}
