// The monitoring files the package ships (monitoring/): the Prometheus rules checked and
// unit-tested by Debian's promtool, every alert linked to its runbook section, and the
// Grafana dashboard's queries parsed by promtool and limited to metrics the monitor writes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { LIVENESS_METRICS, type CheckState } from '../../components/operations/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'monitoring', 'prometheus', 'ipsec-mesh.rules.yml');
const RULE_TESTS = join(ROOT, 'monitoring', 'prometheus', 'ipsec-mesh.rules.test.yml');
const DASHBOARD = join(ROOT, 'monitoring', 'grafana', 'ipsec-mesh.dashboard.json');
const RUNBOOK = join(ROOT, 'docs', 'runbook.md');
const EXPORTED = new Set(LIVENESS_METRICS.map(([name]) => name));

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
const rules = (yaml.load(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);

let promtool = '';
beforeAll(() => {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'install-promtool.sh'), '--print-dir'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`promtool is not fetched: run scripts/install-promtool.sh (npm test does): ${r.stderr}`);
  promtool = join(r.stdout.trim(), 'promtool');
});

function runPromtool(args: readonly string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(promtool, args, { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')),
  );
}

/** Metric names of ours a PromQL expression uses. */
function ourMetrics(expr: string): string[] {
  return [...expr.matchAll(/\bipsec_mesh_[a-z0-9_]+\b/g)].map((m) => m[0]);
}

describe('Prometheus rules (monitoring/prometheus/ipsec-mesh.rules.yml)', () => {
  it('pass promtool check rules', () => {
    const r = runPromtool(['check', 'rules', RULES], ROOT);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('pass their promtool unit tests', () => {
    const r = runPromtool(['test', 'rules', RULE_TESTS], join(ROOT, 'monitoring', 'prometheus'));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  it('cover what an on-call needs: pair down, halfling, cleartext, churn, certificates, monitor not reporting', () => {
    const names = alerts.map((a) => a.alert);
    for (const n of ['IpsecMeshPairDown', 'IpsecMeshHalfling', 'IpsecMeshCleartext', 'IpsecMeshSaChurn', 'IpsecMeshCertificateExpiring', 'IpsecMeshCertificateExpired', 'IpsecMeshMonitorStale']) {
      expect(names).toContain(n);
    }
  });

  it('every alert fires in at least one unit test, and is checked quiet in one', () => {
    const tests = (yaml.load(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = tests.filter((t) => t.alertname === a.alert);
      expect(mine.some((t) => (t.exp_alerts ?? []).length > 0), `${a.alert} never expected to fire`).toBe(true);
    }
    // Quiet cases where a wrong threshold would fire: at least the paging ones.
    for (const n of ['IpsecMeshPairDown', 'IpsecMeshCleartext', 'IpsecMeshMonitorStale', 'IpsecMeshCertificateExpired', 'IpsecMeshMonitorAbsent']) {
      expect(tests.some((t) => t.alertname === n && (t.exp_alerts ?? []).length === 0), `${n} never checked quiet`).toBe(true);
    }
  });

  it('every alert links to its own section of docs/runbook.md and has a severity and a summary', () => {
    const sections = anchors(readFileSync(RUNBOOK, 'utf8'));
    for (const a of alerts) {
      const url = a.annotations?.runbook_url ?? '';
      expect(url, `${a.alert}: runbook_url`).toBe(`docs/runbook.md#${a.alert!.toLowerCase()}`);
      expect(sections.has(url.split('#')[1]!), `${a.alert}: no section "${a.alert}" in docs/runbook.md`).toBe(true);
      expect(['critical', 'warning', 'info']).toContain(a.labels?.severity);
      expect(a.annotations?.summary, `${a.alert}: summary`).toBeTruthy();
    }
  });

  it('use only metrics the monitor writes', () => {
    for (const r of rules) {
      const used = ourMetrics(r.expr);
      expect(used.length, `${r.alert}: ${r.expr}`).toBeGreaterThan(0);
      for (const m of used) expect(EXPORTED.has(m), `${r.alert}: ${m} is not written by the monitor`).toBe(true);
    }
  });
});

describe('the runbook', () => {
  it('has a section per check state', () => {
    const sections = anchors(readFileSync(RUNBOOK, 'utf8'));
    const states: CheckState[] = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];
    for (const s of states) expect(sections.has(`check-${s.toLowerCase()}`), `CHECK ${s}`).toBe(true);
  });
});

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { x: number; y: number; w: number; h: number };
  readonly datasource?: { type: string; uid: string };
  readonly targets?: { refId: string; expr: string; datasource?: { type: string; uid: string } }[];
}
interface Dashboard {
  readonly title: string;
  readonly uid: string;
  readonly schemaVersion: number;
  readonly panels: Panel[];
  readonly templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

describe('Grafana dashboard (monitoring/grafana/ipsec-mesh.dashboard.json)', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('loads as a dashboard: uid, schema, unique panel ids, every panel on the Prometheus data source variable, none overlapping', () => {
    expect(dash.uid).toBe('ipsec-mesh');
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(new Set(dash.panels.map((p) => p.id)).size).toBe(dash.panels.length);
    expect(dash.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of dash.panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect((p.targets ?? []).length, p.title).toBeGreaterThan(0);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    const cells = new Map<string, string>();
    for (const p of dash.panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const k = `${x},${y}`;
          expect(cells.get(k), `${p.title} overlaps ${cells.get(k)}`).toBeUndefined();
          cells.set(k, p.title);
        }
      }
    }
  });

  it('has the per-pair state matrix, SA counts, rekeys, xfrm errors and certificate expiry', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const m of ['ipsec_mesh_ike_established', 'ipsec_mesh_child_installed', 'ipsec_mesh_kernel_esp_sas', 'ipsec_mesh_child_installed_seconds', 'ipsec_mesh_xfrm_stat_total', 'ipsec_mesh_certificate_expires_in_seconds']) {
      expect(all).toContain(m);
    }
    expect(dash.panels.some((p) => p.type === 'state-timeline' && p.targets?.[0]?.expr.includes('by (instance, peer, family)'))).toBe(true);
  });

  it('queries only metrics the monitor writes (panels and variables)', () => {
    const variables = dash.templating.list.filter((v) => v.type === 'query').map((v) => ({ panel: `variable ${v.name}`, expr: v.definition ?? '' }));
    for (const { panel, expr } of [...exprs, ...variables]) {
      const used = ourMetrics(expr);
      expect(used.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const m of used) expect(EXPORTED.has(m), `${panel}: ${m} is not written by the monitor`).toBe(true);
    }
  });

  it('every panel query is valid PromQL (promtool parses each as a recording rule)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipsec-mesh-dashboard-'));
    try {
      // Grafana's variables, as Grafana substitutes them for "All".
      const concrete = (e: string): string => e.replaceAll('$__rate_interval', '2m').replaceAll('$mesh', '.*').replaceAll('$instance', '.*');
      const group = { groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `ipsec_mesh_dashboard:query_${i}`, expr: concrete(e.expr) })) }] };
      writeFileSync(join(dir, 'queries.yml'), yaml.dump(group));
      const r = runPromtool(['check', 'rules', 'queries.yml'], dir);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
