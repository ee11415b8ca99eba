// Rotation of the charon log the mesh's drop-in writes (charon-conf.ts): a file in
// /var/log that nothing else would ever rotate. Host-wide, like the drop-in itself.
import { CHARON_LOG_PATH, CHARON_CONF_PATH } from './file-paths.js';

export function renderLogrotateConf(): string {
  return [
    '# Managed by ipsec-mesh. Do not edit: every deploy overwrites this file.',
    `# The charon log configured by ${CHARON_CONF_PATH}.`,
    `${CHARON_LOG_PATH} {`,
    '\tdaily',
    '\tmaxsize 100M',
    '\trotate 14',
    '\tmissingok',
    '\tnotifempty',
    '\tcompress',
    '\tdelaycompress',
    '\t# Reloading its settings makes charon reopen its file loggers (no restart: SAs stay).',
    '\tpostrotate',
    '\t\tswanctl --reload-settings > /dev/null 2>&1 || true',
    '\tendscript',
    '}',
    '',
  ].join('\n');
}
