// The Web UI's "Current details" panel (markdown): what an SRE at 3 a.m. needs to see without reading
// history: where the run is, what runs where, what a gate will do and how to approve it.
// Every value pasted into a suggested command is shell-quoted: a workflow id or gate name is text a
// requester chose, and the next operator pastes it into a shell.
import { quoteArg } from './shell-quote.js';
import type { RunbookView } from './messages.js';

export function renderDetails(v: RunbookView, workflowId: string): string {
  const done = v.steps.filter((s) => s.state === 'ok' || s.state === 'skipped' || s.state === 'planned').length;
  const lines = [
    `### ${v.runbook}${v.dryRun ? ' (dry run)' : ''}: ${v.status}`,
    ...(v.phase ? [`Phase **${v.phase}**`] : []),
    `Requested by **${v.requestedBy}**${v.requesterVerified ? '' : ' (UNVERIFIED: the name in the input)'} · step ${Math.min(done + 1, v.stepsTotal ?? done + 1)} of ${v.stepsTotal ?? '?'}`,
  ];
  const current = v.steps[v.steps.length - 1];
  if (v.waitingFor) lines.push('', `**Waiting for** ${v.waitingFor}`);
  if (current && current.state === 'running') {
    lines.push('', `**Running:** ${current.name}` + (current.command ? `\n\n\`${current.command}\`` : ''));
    // The workflow never sees heartbeats (and must not write one into history every few seconds): the live
    // progress is the activity's own, on this page's Pending Activities and in `runbook watch`.
    lines.push(
      '',
      `Progress (bytes done of total, rate, time left, or the command's latest line): **Pending Activities** below, heartbeat details; live in a terminal: \`npx runbook watch ${quoteArg(workflowId)}\``,
    );
  }
  if (v.parked) {
    lines.push(
      '',
      `**Parked at "${v.parked.step}"**: ${v.parked.error}`,
      '',
      `Decide (by an approver of the policy, with proof; parking nonce \`${v.parked.nonce}\`):`,
      '```',
      ...decideCommands(workflowId),
      '```',
      'UI: Update `decide`, logged in to the codec server:',
      '```',
      `{"workflowId": ${JSON.stringify(workflowId)}, "decision": "retry", "reason": "<why>"}`,
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
      `Plan fingerprint \`${g.fingerprint}\` · opening \`${g.nonce}\` of run \`${g.runId}\`. Approving runs exactly this:`,
      '```',
      ...g.plan,
      '```',
      'Approve (signed with your SSH key; `--signal` while no worker is up):',
      '```',
      ...approveCommands(workflowId, g.name),
      '```',
      `UI: Update \`approve\` (or \`reject\` with \`"verdict": "reject"\`) logged in to the codec server, which countersigns naming you:`,
      '```',
      `{"workflowId": ${JSON.stringify(workflowId)}, "gate": ${JSON.stringify(g.name)}, "verdict": "approve", "reason": "<why>"}`,
      '```',
    );
  }
  const marked = v.approvals.filter((a) => a.unverified).map((a) => `${a.approver} (${a.verdict} ${a.gate}, UNVERIFIED)`);
  if (marked.length) lines.push('', `**UNVERIFIED verdicts** (no proof; counted only because the policy allows it): ${marked.join(', ')}`);
  if (v.lastError && !v.parked) lines.push('', `**Last error:** ${v.lastError}`);
  if (v.steps.length) {
    lines.push('', '| # | step | state | where | exit | ms |', '|---|---|---|---|---|---|');
    for (const s of v.steps.slice(-15)) {
      lines.push(`| ${s.index} | ${s.name} | ${s.state} | ${s.host ?? ''} | ${s.exitCode ?? ''} | ${s.durationMs ?? ''} |`);
    }
  }
  return lines.join('\n');
}

/** What an operator pastes to approve a gate: our CLI signs the verdict with the operator's SSH key. */
export function approveCommands(workflowId: string, gate: string): string[] {
  const [id, g] = [quoteArg(workflowId), quoteArg(gate)];
  return [`npx runbook approve ${id} --gate ${g} --reason '<why>'`, `npx runbook reject ${id} --gate ${g} --reason '<why>'`];
}

/** What an operator pastes to decide a parked step (retry shown; skip, abort and restart take the same form). */
export function decideCommands(workflowId: string): string[] {
  return [`npx runbook decide ${quoteArg(workflowId)} retry --reason '<why>'   # or skip / abort / restart`];
}

/** Said when a decision comes without proof. */
export function decideHowTo(workflowId: string, decision: string): string {
  return `a decision needs a proof of who decides: \`npx runbook decide ${quoteArg(workflowId)} ${quoteArg(decision)} --reason "<why>"\` (signs with your SSH key listed in the worker's allowed_signers), or the Web UI logged in to the codec server`;
}
