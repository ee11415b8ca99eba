// The shell scripts that run on hosts are real files (components/*/scripts/*.sh, checked by
// shellcheck) that the library reads at run time: tsc does not copy them, this does.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

for (const layer of readdirSync('components', { withFileTypes: true })) {
  if (!layer.isDirectory()) continue;
  const from = join('components', layer.name, 'scripts');
  let names;
  try {
    names = readdirSync(from).filter((n) => n.endsWith('.sh'));
  } catch {
    continue;
  }
  const to = join('dist', from);
  mkdirSync(to, { recursive: true });
  for (const n of names) copyFileSync(join(from, n), join(to, n));
}
