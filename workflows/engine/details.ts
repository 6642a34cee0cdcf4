// The Web UI's "Current details" panel (markdown): what an SRE at 3 a.m. needs to see without reading
// history: where the run is, what runs where, what a gate will do and how to approve it.
import type { RunbookView } from './messages.js';

export function renderDetails(v: RunbookView, workflowId: string): string {
  const done = v.steps.filter((s) => s.state === 'ok' || s.state === 'skipped' || s.state === 'planned').length;
  const lines = [
    `### ${v.runbook}${v.dryRun ? ' (dry run)' : ''}: ${v.status}`,
    ...(v.phase ? [`Phase **${v.phase}**`] : []),
    `Requested by **${v.requestedBy}** · step ${Math.min(done + 1, v.stepsTotal ?? done + 1)} of ${v.stepsTotal ?? '?'}`,
  ];
  const current = v.steps[v.steps.length - 1];
  if (v.waitingFor) lines.push('', `**Waiting for** ${v.waitingFor}`);
  if (current && current.state === 'running') {
    lines.push('', `**Running:** ${current.name}` + (current.command ? `\n\n\`${current.command}\`` : ''));
  }
  if (v.parked) {
    lines.push(
      '',
      `**Parked at "${v.parked.step}"**: ${v.parked.error}`,
      '',
      'Decide (UI: Update `decide`):',
      '```',
      `{"decision": "retry", "operator": "<you>", "reason": "<why>"}   # or "skip" / "abort" (/ "restart" where the procedure has one)`,
      ...decideCommands(workflowId),
      '```',
    );
  }
  const g = v.openGate;
  if (g) {
    lines.push(
      '',
      `**Gate \`${g.name}\` awaits approval** (${g.approvals.length}/${g.quorum}` +
        `${g.fourEyes ? ', four-eyes: not the requester' : ''}; approvers: ${g.approvers.join(', ')})`,
      '',
      `Plan fingerprint \`${g.fingerprint}\`. Approving runs exactly this:`,
      '```',
      ...g.plan,
      '```',
      'Approve (UI: Update `approve`, or Signal `approval` while no worker is up):',
      '```',
      `{"gate": "${g.name}", "approver": "<you>", "reason": "<why>"}`,
      ...approveCommands(workflowId, g.name),
      '```',
    );
  }
  if (v.lastError && !v.parked) lines.push('', `**Last error:** ${v.lastError}`);
  if (v.steps.length) {
    lines.push('', '| # | step | state | where | exit | ms |', '|---|---|---|---|---|---|');
    for (const s of v.steps.slice(-15)) {
      lines.push(`| ${s.index} | ${s.name} | ${s.state} | ${s.host ?? ''} | ${s.exitCode ?? ''} | ${s.durationMs ?? ''} |`);
    }
  }
  return lines.join('\n');
}

/** What an operator pastes to approve a gate: our CLI, then the Temporal CLI (Update; signal while no worker is up). */
export function approveCommands(workflowId: string, gate: string): string[] {
  const body = `'{"gate":"${gate}","approver":"<you>","reason":"<why>"}'`;
  return [
    `npx runbook approve ${workflowId} --gate ${gate} --as <you> --reason "<why>"`,
    `temporal workflow update execute -w ${workflowId} --name approve -i ${body}`,
    `temporal workflow signal -w ${workflowId} --name approval -i ${body}`,
  ];
}

/** What an operator pastes to decide a parked step (retry shown; skip and abort take the same form). */
export function decideCommands(workflowId: string): string[] {
  const body = `'{"decision":"retry","operator":"<you>","reason":"<why>"}'`;
  return [
    `npx runbook decide ${workflowId} retry --as <you> --reason "<why>"`,
    `temporal workflow update execute -w ${workflowId} --name decide -i ${body}`,
    `temporal workflow signal -w ${workflowId} --name decision -i ${body}`,
  ];
}
