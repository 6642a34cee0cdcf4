// How the CLI shows things: colour only on a terminal (picocolors checks), JSON for scripts.
import pc from 'picocolors';
import type { RunbookView } from '../../workflows/engine/messages.js';

export function print(asJson: boolean | undefined, value: unknown, human: () => string): void {
  console.log(asJson ? JSON.stringify(value, null, 2) : human());
}

export const uiBase = (): string => (process.env.RUNBOOK_UI_URL ?? 'http://127.0.0.1:8233').replace(/\/$/, '');
export const runUrl = (workflowId: string, namespace = process.env.TEMPORAL_NAMESPACE ?? 'default'): string =>
  `${uiBase()}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;

function bar(done: number, total: number): string {
  const width = 20;
  const filled = total ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
}

export function renderStatus(v: RunbookView, id: string): string {
  const colour =
    v.status === 'Completed' ? pc.green : v.status === 'AwaitingApproval' || v.status === 'Parked' ? pc.yellow : v.status === 'Running' ? pc.cyan : pc.red;
  const lines = [
    `${pc.bold(v.runbook)} ${id}  ${colour(v.status)}  requested by ${v.requestedBy}`,
    `${bar(v.stepsDone, v.stepsTotal ?? v.stepsDone)}  ${runUrl(id)}`,
  ];
  for (const s of v.steps) {
    const mark =
      s.state === 'ok' ? pc.green('✔') : s.state === 'parked' || s.state === 'failed' ? pc.red('✖') : s.state === 'running' ? pc.cyan('…') : pc.dim('·');
    const where = s.host ? pc.dim(` @${s.host}`) : '';
    const exit = s.exitCode !== undefined ? pc.dim(` exit ${s.exitCode}`) : '';
    lines.push(`  ${mark} ${String(s.index).padStart(2)}. ${s.name}${where}${exit}${s.error ? pc.red(`  ${s.error}`) : ''}`);
    if (s.lastOutput && (s.state === 'running' || s === v.steps[v.steps.length - 1])) lines.push(pc.dim(`        ${s.lastOutput}`));
  }
  if (v.waitingFor) lines.push(pc.yellow(`waiting for ${v.waitingFor}`));
  if (v.openGate) {
    const g = v.openGate;
    lines.push(pc.yellow(`gate ${g.name}: ${g.approvals.length}/${g.quorum} approvals; approvers ${g.approvers.join(', ')}; fingerprint ${g.fingerprint}`));
    lines.push(...g.plan.map((l) => `    ${l}`));
    lines.push(`approve: runbook approve ${id} --gate ${g.name} --as <you> --reason "<why>"`);
  }
  if (v.parked) {
    lines.push(pc.red(`parked at "${v.parked.step}": ${v.parked.error}`), `decide: runbook decide ${id} retry|skip|abort --as <you> --reason "<why>"`);
  }
  if (v.lastError && !v.parked) lines.push(pc.red(`last error: ${v.lastError}`));
  return lines.join('\n');
}
