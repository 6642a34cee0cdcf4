#!/usr/bin/env node
// The operator CLI (`npx runbook …`): start, plan, status, list, approve, reject, decide.
// Same schemas and messages as the Web UI path; `--json` on every command for scripts.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import pc from 'picocolors';
import type { Client } from '@temporalio/client';
import { connectClient } from '../workers/connection.js';
import { runbookInputs } from '../workflows/catalog.js';
import { inputProblems } from '../workflows/input-fields.js';
import type { RunbookView } from '../workflows/messages.js';
import { RunbookGate, RunbookStatus } from '../workflows/search-attributes.js';

const TASK_QUEUE = process.env.RUNBOOK_TASK_QUEUE ?? 'runbooks';
const program = new Command('runbook').description('Disaster-recovery runbooks on Temporal').showHelpAfterError();
const json = new Option('--json', 'machine-readable output');

function out(asJson: boolean, value: unknown, human: () => string): void {
  console.log(asJson ? JSON.stringify(value, null, 2) : human());
}

async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

function readInput(type: string, raw: string): unknown {
  const schema = runbookInputs[type];
  if (!schema) throw new UsageError(`unknown runbook "${type}" (known: ${Object.keys(runbookInputs).join(', ')})`);
  let value: unknown;
  try {
    value = JSON.parse(raw.startsWith('@') ? readFileSync(raw.slice(1), 'utf8') : raw);
  } catch (err) {
    throw new UsageError(`--input is not JSON: ${(err as Error).message}`);
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new UsageError(`InvalidInput: ${inputProblems(r.error.issues).map((p) => `${p.field}: ${p.why}`).join('; ')}`);
  }
  return value; // the raw object: the workflow applies its own defaults, exactly as from the UI
}

class UsageError extends Error {}

function render(v: RunbookView, id: string): string {
  const colour = v.status === 'Completed' ? pc.green : v.status === 'AwaitingApproval' || v.status === 'Parked' ? pc.yellow : v.status === 'Running' ? pc.cyan : pc.red;
  const lines = [`${pc.bold(v.runbook)} ${id}  ${colour(v.status)}  requested by ${v.requestedBy}`, `steps ${v.stepsDone}/${v.stepsTotal ?? '?'}`];
  for (const s of v.steps) {
    const mark = s.state === 'ok' ? pc.green('✔') : s.state === 'parked' || s.state === 'failed' ? pc.red('✖') : s.state === 'running' ? pc.cyan('…') : pc.dim('·');
    lines.push(`  ${mark} ${s.index}. ${s.name}${s.host ? pc.dim(` @${s.host}`) : ''}${s.exitCode !== undefined ? pc.dim(` exit ${s.exitCode}`) : ''}${s.error ? pc.red(`  ${s.error}`) : ''}`);
  }
  if (v.waitingFor) lines.push(pc.yellow(`waiting for ${v.waitingFor}`));
  if (v.openGate) {
    const g = v.openGate;
    lines.push(pc.yellow(`gate ${g.name}: ${g.approvals.length}/${g.quorum} approvals; approvers ${g.approvers.join(', ')}; fingerprint ${g.fingerprint}`));
    lines.push(...g.plan.map((l) => `    ${l}`));
    lines.push(`approve: runbook approve ${id} ${g.name} --approver <you> --reason "<why>"`);
  }
  if (v.parked) lines.push(pc.red(`parked at "${v.parked.step}": ${v.parked.error}`), `decide: runbook decide ${id} retry|skip|abort --operator <you> --reason "<why>"`);
  return lines.join('\n');
}

program
  .command('start')
  .description('start a runbook (input validated here first, nothing starts if it is wrong)')
  .argument('<type>', `runbook type: ${Object.keys(runbookInputs).join(', ')}`)
  .requiredOption('-i, --input <json>', 'one JSON object, or @file.json')
  .option('--id <workflowId>', 'workflow id (default: <type>-<time>)')
  .option('--wait', 'wait for the result')
  .addOption(json)
  .action(async (type: string, o: { input: string; id?: string; wait?: boolean; json?: boolean }) => {
    const input = readInput(type, o.input);
    await withClient(async (c) => {
      const workflowId = o.id ?? `${type}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const h = await c.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId, args: [input] });
      const result = o.wait ? await h.result() : undefined;
      out(Boolean(o.json), { workflowId, runId: h.firstExecutionRunId, result }, () => `started ${pc.bold(workflowId)}${result ? `\n${JSON.stringify(result, null, 2)}` : ''}`);
    });
  });

program
  .command('plan')
  .description('dry run: run read-only preflight for real and print the plan with its fingerprint')
  .argument('<type>')
  .requiredOption('-i, --input <json>', 'one JSON object, or @file.json')
  .addOption(json)
  .action(async (type: string, o: { input: string; json?: boolean }) => {
    const input = { ...(readInput(type, o.input) as object), dryRun: true };
    await withClient(async (c) => {
      const r = (await c.workflow.execute(type, { taskQueue: TASK_QUEUE, workflowId: `${type}-plan-${Date.now()}`, args: [input] })) as {
        plan: { kind: string; name: string; effect?: string; commands: string[] }[];
        fingerprint: string;
      };
      out(Boolean(o.json), r, () =>
        [...r.plan.flatMap((p) => [`${p.kind === 'gate' ? pc.yellow('GATE') : pc.bold(p.effect ?? '')} ${p.name}`, ...p.commands.map((x) => `    ${x}`)]), `fingerprint ${r.fingerprint}`].join('\n'),
      );
    });
  });

program
  .command('status')
  .argument('<workflowId>')
  .addOption(json)
  .action(async (id: string, o: { json?: boolean }) => {
    await withClient(async (c) => {
      const v = await c.workflow.getHandle(id).query<RunbookView>('status');
      out(Boolean(o.json), v, () => render(v, id));
    });
  });

program
  .command('list')
  .description('runbook runs, newest first')
  .option('--status <status>', 'Running | AwaitingApproval | Parked | Completed | Failed | Aborted')
  .option('--query <visibilityQuery>', 'a raw visibility query')
  .addOption(json)
  .action(async (o: { status?: string; query?: string; json?: boolean }) => {
    const query = o.query ?? (o.status ? `RunbookStatus = "${o.status.replace(/"/g, '')}"` : 'RunbookName IS NOT NULL');
    await withClient(async (c) => {
      const rows: { workflowId: string; type: string; status: string; runbookStatus?: string; gate?: string; start: string }[] = [];
      for await (const w of c.workflow.list({ query })) {
        const sa = w.typedSearchAttributes;
        rows.push({
          workflowId: w.workflowId,
          type: w.type,
          status: w.status.name,
          runbookStatus: sa.get(RunbookStatus),
          gate: sa.get(RunbookGate),
          start: w.startTime.toISOString(),
        });
        if (rows.length >= 200) break;
      }
      out(Boolean(o.json), rows, () => rows.map((r) => `${r.start}  ${r.type.padEnd(12)} ${(r.runbookStatus ?? r.status).padEnd(17)} ${r.gate ?? ''}  ${r.workflowId}`).join('\n') || 'no runs');
    });
  });

for (const verdict of ['approve', 'reject'] as const) {
  program
    .command(verdict)
    .description(`${verdict} an open gate (Update; --signal for the durable path while no worker is up)`)
    .argument('<workflowId>')
    .argument('<gate>')
    .requiredOption('--approver <name>', 'who you are (checked against the gate policy)')
    .requiredOption('--reason <text>', 'why; recorded with the verdict')
    .option('--fingerprint <sha256>', 'the plan fingerprint you reviewed (refused if the plan changed)')
    .option('--signature <file>', 'OpenSSH signature file for signed gates')
    .option('--signal', 'send the `approval` signal instead of the Update')
    .addOption(json)
    .action(async (id: string, gateName: string, o: { approver: string; reason: string; fingerprint?: string; signature?: string; signal?: boolean; json?: boolean }) => {
      const approval = {
        gate: gateName,
        approver: o.approver,
        reason: o.reason,
        ...(o.fingerprint ? { fingerprint: o.fingerprint } : {}),
        ...(o.signature ? { signature: readFileSync(o.signature, 'utf8') } : {}),
      };
      await withClient(async (c) => {
        const h = c.workflow.getHandle(id);
        if (o.signal) {
          await h.signal('approval', { ...approval, verdict: verdict });
          out(Boolean(o.json), { sent: 'signal', approval }, () => `signal sent; it is validated by the run (see \`runbook status ${id}\`)`);
        } else {
          const rec = await h.executeUpdate(verdict, { args: [approval] });
          out(Boolean(o.json), rec, () => pc.green(`${verdict}d gate ${gateName} of ${id}`));
        }
      });
    });
}

program
  .command('sign')
  .description('sign the open gate of a run with your OpenSSH key, for gates whose policy says signed')
  .argument('<workflowId>')
  .argument('<gate>')
  .requiredOption('--key <file>', 'your private key (ssh-keygen -Y sign; an agent key works with the .pub file)')
  .requiredOption('--out <file>', 'where to write the signature (then: runbook approve … --signature <file>)')
  .action(async (id: string, gateName: string, o: { key: string; out: string }) => {
    await withClient(async (c) => {
      const v = await c.workflow.getHandle(id).query<RunbookView>('status');
      if (v.openGate?.name !== gateName) throw new UsageError(`gate "${gateName}" is not open on ${id}`);
      // Exactly the message the worker verifies: the run, the gate and the plan you are approving.
      const message = JSON.stringify({ workflowId: id, gate: gateName, fingerprint: v.openGate.fingerprint });
      const sig = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', o.key, '-n', 'runbook-approval'], { input: message });
      writeFileSync(o.out, sig);
      console.log(`signed ${gateName} of ${id} (fingerprint ${v.openGate.fingerprint}) → ${o.out}`);
    });
  });

program
  .command('decide')
  .description('decide a parked step: retry, skip or abort')
  .argument('<workflowId>')
  .argument('<decision>', 'retry | skip | abort')
  .requiredOption('--operator <name>', 'who you are')
  .requiredOption('--reason <text>', 'why; recorded')
  .option('--signal', 'send the `decision` signal instead of the Update')
  .addOption(json)
  .action(async (id: string, decision: string, o: { operator: string; reason: string; signal?: boolean; json?: boolean }) => {
    const d = { decision, operator: o.operator, reason: o.reason };
    await withClient(async (c) => {
      const h = c.workflow.getHandle(id);
      if (o.signal) await h.signal('decision', d);
      else await h.executeUpdate('decide', { args: [d] });
      out(Boolean(o.json), { ok: true, ...d }, () => pc.green(`${decision}: sent to ${id}`));
    });
  });

program.parseAsync().catch((err: Error & { cause?: Error }) => {
  const msg = err instanceof UsageError ? err.message : `${err.message}${err.cause?.message ? `: ${err.cause.message}` : ''}`;
  console.error(pc.red(`runbook: ${msg}`));
  process.exit(err instanceof UsageError ? 2 : 1);
});
