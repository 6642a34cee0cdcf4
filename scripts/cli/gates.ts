// Verdicts and decisions: approve, reject (optionally signed with an OpenSSH key), decide.
import { execFileSync } from 'node:child_process';
import type { Command } from 'commander';
import pc from 'picocolors';
import type { Client } from '@temporalio/client';
import type { RunbookView } from '../../workflows/engine/messages.js';
import { UsageError } from './input.js';
import { print } from './output.js';
import { withClient } from './session.js';

/** Exactly the message the worker verifies: the run, the gate, and the plan being approved. */
async function signGate(c: Client, workflowId: string, gate: string, key: string): Promise<{ signature: string; fingerprint: string }> {
  const v = await c.workflow.getHandle(workflowId).query<RunbookView>('status');
  if (v.openGate?.name !== gate) throw new UsageError(`gate "${gate}" is not open on ${workflowId}`);
  const message = JSON.stringify({ workflowId, gate, fingerprint: v.openGate.fingerprint });
  const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', 'runbook-approval'], { input: message, encoding: 'utf8' });
  return { signature, fingerprint: v.openGate.fingerprint };
}

export function registerGates(program: Command): void {
  for (const verdict of ['approve', 'reject'] as const) {
    program
      .command(verdict)
      .description(`${verdict} the open gate of a run (Update; --signal is the durable path while no worker is up)`)
      .argument('<workflowId>')
      .requiredOption('--gate <name>', 'the gate')
      .requiredOption('--as <name>', 'who you are (checked against the gate policy)')
      .requiredOption('--reason <text>', 'why; recorded with the verdict')
      .option('--fingerprint <sha256>', 'the plan fingerprint you reviewed (refused if the plan changed)')
      .option('--sign-key <path>', 'sign with this OpenSSH key (gates whose policy says signed)')
      .option('--signal', 'send the `approval` signal instead of the Update')
      .option('--json', 'machine-readable output')
      .action(async (id: string, o: { gate: string; as: string; reason: string; fingerprint?: string; signKey?: string; signal?: boolean; json?: boolean }) => {
        await withClient(async (c) => {
          const signed = o.signKey ? await signGate(c, id, o.gate, o.signKey) : undefined;
          const fingerprint = o.fingerprint ?? signed?.fingerprint;
          const approval = {
            gate: o.gate,
            approver: o.as,
            reason: o.reason,
            ...(fingerprint ? { fingerprint } : {}),
            ...(signed ? { signature: signed.signature } : {}),
          };
          const h = c.workflow.getHandle(id);
          if (o.signal) {
            await h.signal('approval', { ...approval, verdict });
            print(o.json, { sent: 'signal', ...approval, signature: undefined }, () => `signal sent; the run validates it (see \`runbook status ${id}\`)`);
          } else {
            const rec = await h.executeUpdate(verdict, { args: [approval] });
            print(o.json, rec, () => pc.green(`${verdict === 'approve' ? 'approved' : 'rejected'} gate ${o.gate} of ${id}`));
          }
        });
      });
  }

  program
    .command('decide')
    .description('decide a parked step: retry, skip or abort')
    .argument('<workflowId>')
    .argument('<decision>', 'retry | skip | abort | restart')
    .requiredOption('--as <name>', 'who you are')
    .requiredOption('--reason <text>', 'why; recorded')
    .option('--signal', 'send the `decision` signal instead of the Update')
    .option('--json', 'machine-readable output')
    .action(async (id: string, decision: string, o: { as: string; reason: string; signal?: boolean; json?: boolean }) => {
      if (!['retry', 'skip', 'abort', 'restart'].includes(decision)) throw new UsageError(`decision must be retry, skip, abort or restart, got "${decision}"`);
      const d = { decision, operator: o.as, reason: o.reason };
      await withClient(async (c) => {
        const h = c.workflow.getHandle(id);
        if (o.signal) await h.signal('decision', d);
        else await h.executeUpdate('decide', { args: [d] });
        print(o.json, { ok: true, ...d }, () => pc.green(`${decision}: sent to ${id}`));
      });
    });
}
