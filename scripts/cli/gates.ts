// Verdicts and decisions: approve, reject, decide. Each is signed with the operator's SSH key (a key file,
// or the public key of a key held by ssh-agent) over the statement proofs.ts defines, bound to the gate's
// current opening as the run's status shows it; the worker verifies it against its allowed_signers.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import type { Client } from '@temporalio/client';
import type { RunbookView } from '../../workflows/engine/messages.js';
import {
  canonicalStatement,
  PROOF_LIFETIME_MS,
  VERDICT_NAMESPACE,
  type Proof,
  type VerdictStatement,
  type VerdictWord,
} from '../../workflows/engine/proofs.js';
import { UsageError } from './input.js';
import { print } from './output.js';
import { withClient } from './session.js';

/** ssh-keygen -Y sign over the statement; `key` is a private key file, or a .pub whose key ssh-agent holds. */
export function signStatement(key: string, st: VerdictStatement, namespace = VERDICT_NAMESPACE): Proof {
  const statement = canonicalStatement(st);
  const signature = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', key, '-n', namespace, '-q'], { input: statement, encoding: 'utf8' });
  return { kind: 'ssh', statement, signature };
}

function defaultKey(): string {
  const env = process.env.RUNBOOK_SIGNING_KEY;
  if (env) return env;
  for (const k of ['id_ed25519', 'id_ecdsa', 'id_rsa']) if (existsSync(join(homedir(), '.ssh', k))) return join(homedir(), '.ssh', k);
  throw new UsageError('no signing key: pass --key <private key or .pub held by ssh-agent>, or set RUNBOOK_SIGNING_KEY');
}

/** The statement for what the run shows open now: its gate (or parked step), nonce, fingerprint and run. */
export async function statementFor(
  c: Client,
  workflowId: string,
  what: { gate: string } | { decision: string },
  verdict: VerdictWord,
  approver: string,
): Promise<VerdictStatement> {
  const v = await c.workflow.getHandle(workflowId).query<RunbookView>('status');
  const now = Date.now();
  const times = { issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + PROOF_LIFETIME_MS).toISOString() };
  const namespace = c.options.namespace;
  if ('gate' in what) {
    const g = v.openGate;
    if (!g || g.name !== what.gate) throw new UsageError(`gate "${what.gate}" is not open on ${workflowId}${g ? ` (open: "${g.name}")` : ''}`);
    return { namespace, workflowId, runId: g.runId, gate: g.name, gateNonce: g.nonce, verdict, fingerprint: g.fingerprint, approver, ...times };
  }
  const p = v.parked;
  if (!p) throw new UsageError(`nothing is parked on ${workflowId}`);
  return { namespace, workflowId, runId: p.runId, gate: `step:${p.step}`, gateNonce: p.nonce, verdict, fingerprint: p.fingerprint, approver, ...times };
}

interface SignOptions {
  as?: string;
  key?: string;
  unsigned?: boolean;
}

const signOptions = (cmd: Command): Command =>
  cmd
    .option('--as <name>', 'your approver name as allowed_signers lists your key (default: RUNBOOK_APPROVER, then your login name)')
    .option('--key <path>', 'the SSH key to sign with: a private key file, or a .pub held by ssh-agent (default: RUNBOOK_SIGNING_KEY, ~/.ssh/id_ed25519)')
    .option('--unsigned', 'send the name only (counted only where the policy says allowUnverifiedApprovers, marked UNVERIFIED)');

const approverOf = (o: SignOptions): string => o.as ?? process.env.RUNBOOK_APPROVER ?? userInfo().username;

export function registerGates(program: Command): void {
  for (const verdict of ['approve', 'reject'] as const) {
    signOptions(
      program
        .command(verdict)
        .description(`${verdict} the open gate of a run, signed with your SSH key (Update; --signal is the durable path while no worker is up)`)
        .argument('<workflowId>')
        .requiredOption('--gate <name>', 'the gate')
        .requiredOption('--reason <text>', 'why; recorded with the verdict')
        .option('--fingerprint <sha256>', 'the plan fingerprint you reviewed (refused if the plan changed)'),
    )
      .option('--signal', 'send the `approval` signal instead of the Update')
      .option('--json', 'machine-readable output')
      .action(async (id: string, o: SignOptions & { gate: string; reason: string; fingerprint?: string; signal?: boolean; json?: boolean }) => {
        await withClient(async (c) => {
          const approver = approverOf(o);
          const st = await statementFor(c, id, { gate: o.gate }, verdict, approver);
          if (o.fingerprint && o.fingerprint !== st.fingerprint)
            throw new UsageError(`the plan changed: fingerprint ${st.fingerprint}, you reviewed ${o.fingerprint}`);
          const approval = {
            gate: o.gate,
            approver,
            reason: o.reason,
            fingerprint: st.fingerprint,
            ...(o.unsigned ? {} : { proof: signStatement(o.key ?? defaultKey(), st) }),
          };
          const h = c.workflow.getHandle(id);
          if (o.signal) {
            await h.signal('approval', { ...approval, verdict });
            print(o.json, { sent: 'signal', gate: o.gate, approver }, () => `signal sent; the run verifies it (see \`runbook status ${id}\`)`);
          } else {
            const rec = await h.executeUpdate(verdict, { args: [approval] });
            print(o.json, rec, () => pc.green(`${verdict === 'approve' ? 'approved' : 'rejected'} gate ${o.gate} of ${id} as ${approver}`));
          }
        });
      });
  }

  signOptions(
    program
      .command('decide')
      .description('decide a parked step: retry, skip, abort or restart, signed with your SSH key')
      .argument('<workflowId>')
      .argument('<decision>', 'retry | skip | abort | restart')
      .requiredOption('--reason <text>', 'why; recorded'),
  )
    .option('--signal', 'send the `decision` signal instead of the Update')
    .option('--json', 'machine-readable output')
    .action(async (id: string, decision: string, o: SignOptions & { reason: string; signal?: boolean; json?: boolean }) => {
      if (!['retry', 'skip', 'abort', 'restart'].includes(decision)) throw new UsageError(`decision must be retry, skip, abort or restart, got "${decision}"`);
      await withClient(async (c) => {
        const operator = approverOf(o);
        const st = await statementFor(c, id, { decision }, decision as VerdictWord, operator);
        const d = { decision, operator, reason: o.reason, ...(o.unsigned ? {} : { proof: signStatement(o.key ?? defaultKey(), st) }) };
        const h = c.workflow.getHandle(id);
        if (o.signal) await h.signal('decision', d);
        else await h.executeUpdate('decide', { args: [d] });
        print(o.json, { ok: true, decision, operator, reason: o.reason }, () => pc.green(`${decision}: sent to ${id} as ${operator}`));
      });
    });
}
