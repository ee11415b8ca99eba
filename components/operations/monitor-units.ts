// systemd units that run the liveness monitor on a timer. Installed by the push only where
// systemd runs (`/run/systemd/system` exists); elsewhere the push's own run after each load
// is the only one (docs/operations.md).
import { DEFAULT_MONITOR_INTERVAL_SECONDS, MonitorScriptError, monitorPaths } from './monitor-script.js';

export interface MonitorUnitsOptions {
  readonly mesh: string;
  /** Seconds between runs; 30–60 is the intended range. Default 30. */
  readonly intervalSeconds?: number;
}

export interface MonitorUnits {
  readonly service: string;
  readonly timer: string;
}

export function monitorUnits(opts: MonitorUnitsOptions): MonitorUnits {
  const p = monitorPaths(opts.mesh);
  const every = opts.intervalSeconds ?? DEFAULT_MONITOR_INTERVAL_SECONDS;
  if (!Number.isSafeInteger(every) || every < 10 || every > 3600) {
    throw new MonitorScriptError(opts.mesh, '-', `monitor interval must be a whole number of seconds between 10 and 3600, got ${String(every)}`);
  }
  const service = `# Managed by ipsec-mesh (mesh ${opts.mesh}). Do not edit: every deploy overwrites this file.
[Unit]
Description=ipsec-mesh liveness monitor (mesh ${opts.mesh})
After=strongswan.service network-online.target
ConditionPathExists=${p.script}

[Service]
Type=oneshot
# Metrics directory: override with "systemctl edit ${p.serviceUnit}" and
# Environment=IPSEC_MESH_TEXTFILE_DIR=/some/dir
ExecStart=/bin/sh ${p.script}
SyslogIdentifier=ipsec-mesh
TimeoutStartSec=300
Nice=10
PrivateTmp=yes
ProtectHome=yes
ProtectSystem=full
NoNewPrivileges=yes
`;
  const timer = `# Managed by ipsec-mesh (mesh ${opts.mesh}). Do not edit: every deploy overwrites this file.
[Unit]
Description=ipsec-mesh liveness monitor every ${every} s (mesh ${opts.mesh})

[Timer]
OnBootSec=${every}s
OnUnitActiveSec=${every}s
AccuracySec=5s
Unit=${p.serviceUnit}

[Install]
WantedBy=timers.target
`;
  return { service, timer };
}
