// What a run is, in one line, for the Web UI's workflow list and the run's page header: the runbook, the
// hosts or servers it targets, the bundle or image it uses, and who asked. Set as the run's static
// summary and details at start by the CLI, the schedules and the tour check (the Web UI's own Start form has
// its own Summary field). Built from the validated input only: inputs never hold secrets.

/** Input fields naming what a run acts on, in the order they read best. */
const TARGET_FIELDS = ['hosts', 'host', 'nodes', 'node', 'master', 'worker', 'hypervisor', 'domain', 'cloud', 'fromCloud', 'toCloud', 'server', 'store'];
/** Input fields naming what a run uses or makes. */
const OBJECT_FIELDS = ['bundle', 'image', 'iso', 'name', 'newName', 'label', 'mode'];

const text = (v: unknown): string | undefined =>
  typeof v === 'string'
    ? v
    : typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : Array.isArray(v)
        ? v.map(text).filter(Boolean).join(', ')
        : undefined;

export interface RunSummary {
  staticSummary: string;
  staticDetails: string;
}

function targetsOf(input: Record<string, unknown>): string[] {
  return [...new Set(TARGET_FIELDS.map((f) => text(input[f])).filter((v): v is string => Boolean(v)))];
}

/**
 * A workflow id that says what the run is: the Web UI's list (2.54) has no summary column, it shows the id.
 * "lavaMasterRestore-lava-master-backup-store-2026-12-03T12-52-02Z".
 */
export function describingWorkflowId(runbook: string, input: Record<string, unknown>, at = new Date()): string {
  const targets = targetsOf(input)
    .join('-')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 80);
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  return [runbook, input.dryRun === true ? 'plan' : '', targets, stamp].filter(Boolean).join('-');
}

export function runSummary(runbook: string, input: Record<string, unknown>, via?: string): RunSummary {
  const targets = targetsOf(input);
  const objects = OBJECT_FIELDS.filter((f) => text(input[f])).map((f) => `${f} ${text(input[f])}`);
  const parts = [
    `${runbook}${input.dryRun === true ? ' (dry run)' : ''}${targets.length ? ` on ${targets.join(', ')}` : ''}`,
    ...objects,
    `requested by ${text(input.requestedBy) ?? 'nobody named'}`,
  ];
  const rows = Object.entries(input)
    .filter(([, v]) => text(v) !== undefined || (v && typeof v === 'object'))
    .map(([k, v]) => `| ${k} | ${(text(v) ?? JSON.stringify(v)).replace(/\|/g, '\\|').slice(0, 200)} |`);
  return {
    staticSummary: parts.join(' · ').slice(0, 400),
    staticDetails: [`**${runbook}**${via ? ` started by ${via}` : ''}`, '', '| input | value |', '|---|---|', ...rows].join('\n'),
  };
}
