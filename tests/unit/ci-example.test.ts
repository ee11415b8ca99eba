// The CI examples stay wired to the one script the lab test runs (tests/lab/state-backend.test.ts):
// the pull-request job previews, the merge job ups, and nothing else runs pulumi.
import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const read = (f: string): unknown => load(readFileSync(new URL(`../../examples/ci/${f}`, import.meta.url), 'utf8'));
type Job = { if?: string; rules?: { if: string }[]; steps?: { run?: string }[]; script?: string[] };

function commands(job: Job): string {
  return [...(job.steps ?? []).map((s) => s.run ?? ''), ...(job.script ?? [])].join('\n');
}

describe('examples/ci', () => {
  it('GitHub Actions: preview on pull requests, up on pushes to main, both through ipsec-mesh-ci.sh', () => {
    const wf = read('github-actions.yml') as { on: Record<string, unknown>; jobs: Record<string, Job> };
    expect(Object.keys(wf.on).sort()).toEqual(['pull_request', 'push']);
    expect(wf.jobs.preview!.if).toBe("github.event_name == 'pull_request'");
    expect(commands(wf.jobs.preview!)).toContain('examples/ci/ipsec-mesh-ci.sh preview');
    expect(wf.jobs.up!.if).toBe("github.event_name == 'push'");
    expect(commands(wf.jobs.up!)).toContain('examples/ci/ipsec-mesh-ci.sh up');
    for (const job of Object.values(wf.jobs)) expect(commands(job)).not.toMatch(/pulumi (up|preview)/);
  });

  it('GitLab CI: preview on merge requests, up on the default branch, both through ipsec-mesh-ci.sh', () => {
    const ci = read('gitlab-ci.yml') as Record<string, Job>;
    expect(ci['ipsec-mesh:preview']!.rules![0]!.if).toBe('$CI_PIPELINE_SOURCE == "merge_request_event"');
    expect(commands(ci['ipsec-mesh:preview']!)).toBe('examples/ci/ipsec-mesh-ci.sh preview');
    expect(ci['ipsec-mesh:up']!.rules![0]!.if).toBe('$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH');
    expect(commands(ci['ipsec-mesh:up']!)).toBe('examples/ci/ipsec-mesh-ci.sh up');
  });
});
