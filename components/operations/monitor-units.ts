// The systemd unit that runs the liveness monitor. Installed by the push only where
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
}

/**
 * One long-running service rather than a timer: systemd restarts it whenever it stops
 * (killed, crashed, OOM) and never gives up, and its output is the journal's. Each run is a
 * fresh shell started by the service's loop; a run that hangs is bounded by the `timeout 60`
 * around every command it runs.
 */
export function monitorUnits(opts: MonitorUnitsOptions): MonitorUnits {
  const p = monitorPaths(opts.mesh);
  const every = opts.intervalSeconds ?? DEFAULT_MONITOR_INTERVAL_SECONDS;
  if (!Number.isSafeInteger(every) || every < 10 || every > 3600) {
    throw new MonitorScriptError(opts.mesh, '-', `monitor interval must be a whole number of seconds between 10 and 3600, got ${String(every)}`);
  }
  const service = `# Managed by ipsec-mesh (mesh ${opts.mesh}). Do not edit: every deploy overwrites this file.
[Unit]
Description=ipsec-mesh liveness monitor, every ${every} s (mesh ${opts.mesh})
After=strongswan.service network-online.target
ConditionPathExists=${p.script}
# Restart for ever: a monitor that gave up is an alert that never fires.
StartLimitIntervalSec=0

[Service]
Type=simple
# Metrics directory: override with "systemctl edit ${p.serviceUnit}" and
# Environment=IPSEC_MESH_TEXTFILE_DIR=/some/dir
ExecStart=/bin/sh ${p.script} --every ${every}
Restart=always
RestartSec=5s
SyslogIdentifier=ipsec-mesh
Nice=10
PrivateTmp=yes
ProtectHome=yes
ProtectSystem=full
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
`;
  return { service };
}
