// The hostile suite of issue 18: every way to approve or decide without being the right, proven person
// is refused with its own message, under the default policy (proof required). Operators sign with the
// lab trust's SSH keys exactly as `runbook approve|reject|decide` does (scripts/cli/gates.ts).
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { signStatement } from '../scripts/cli/gates.js';
import { labTrust } from '../scripts/lab-trust.js';
import type { WorkerConfig } from '../workers/config.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import { PROOF_LIFETIME_MS, type VerdictStatement, type VerdictWord } from '../workflows/engine/proofs.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { saveHistory } from './history-files.js';
import { refusedUpdate, releaseRun, scratchDir, status, testEnv, textOf, trust, uniqueId, waitFor, type TestEnv } from './harness.js';

let env: TestEnv;
before(async () => {
  env = await testEnv();
});
afterEach(async () => env?.endRuns());
after(async () => env?.close());

const HOST = 'backup-store';
const GATE = 'write-marker';

/** The shipped default: proof required; the lab trust (or another allowed_signers) as the worker's. */
function strict(allowedSigners = trust.allowedSigners, gate: Partial<WorkerConfig['policies']['default']> = {}): Partial<WorkerConfig> {
  const policies = structuredClone(env.config.policies);
  policies.default.allowUnverifiedApprovers = false;
  policies.runbooks.labDrill = { gates: { [GATE]: { ...policies.default, approvers: ['alice', 'bob', 'carol'], ...gate } } };
  return { policies, approvals: { ...env.config.approvals, allowedSigners } };
}

async function atGate(h: WorkflowHandle): Promise<RunbookView> {
  return waitFor('the gate', async () => {
    const v = await status(h);
    return v.status === 'AwaitingApproval' && v;
  });
}

async function atPark(h: WorkflowHandle, step: string): Promise<RunbookView> {
  return waitFor(`parked at ${step}`, async () => {
    const v = await status(h);
    return v.status === 'Parked' && v.parked?.step === step && v;
  });
}

/** What the CLI signs for the gate (or parked step) open in `v`. */
function statementOf(
  h: WorkflowHandle,
  v: RunbookView,
  verdict: VerdictWord,
  approver: string,
  times?: { issuedAt: string; expiresAt: string },
): VerdictStatement {
  const now = Date.now();
  const t = times ?? { issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + PROOF_LIFETIME_MS).toISOString() };
  if (v.openGate) {
    const g = v.openGate;
    return {
      namespace: 'default',
      workflowId: h.workflowId,
      runId: g.runId,
      gate: g.name,
      gateNonce: g.nonce,
      verdict,
      fingerprint: g.fingerprint,
      approver,
      ...t,
    };
  }
  const p = v.parked!;
  return {
    namespace: 'default',
    workflowId: h.workflowId,
    runId: p.runId,
    gate: `step:${p.step}`,
    gateNonce: p.nonce,
    verdict,
    fingerprint: p.fingerprint,
    approver,
    ...t,
  };
}

const approve = (h: WorkflowHandle, approver: string, proof?: unknown, verdict: 'approve' | 'reject' = 'approve') =>
  h.executeUpdate(verdict, { args: [{ gate: GATE, approver, reason: 'hostile suite', ...(proof ? { proof } : {}) }] });

describe('approvals prove who gives them', () => {
  test("forged names: no proof, a key not in allowed_signers, another approver's name on my key", async () => {
    const w = await env.startWorker({ config: strict() });
    try {
      const h = await env.start('labDrill', uniqueId('proof-forged'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      const plain = await refusedUpdate(approve(h, 'bob'));
      assert.match(plain, /no proof of identity: .*npx runbook approve\|reject .* --gate write-marker/);
      const mallory = labTrust(scratchDir('mallory'), ['mallory']);
      assert.match(await refusedUpdate(approve(h, 'bob', signStatement(mallory.keys.mallory!, statementOf(h, v, 'approve', 'bob')))), /not in allowed_signers/);
      assert.match(
        await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.carol!, statementOf(h, v, 'approve', 'bob')))),
        /names "bob" but the key belongs to "carol"/,
      );
      // carol's own proof, sent under bob's name.
      assert.match(
        await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.carol!, statementOf(h, v, 'approve', 'carol')))),
        /names "bob" but the proof is by "carol"/,
      );
      assert.equal((await status(h)).openGate?.approvals.length, 0);
      const rec = await approve(h, '', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'bob')));
      assert.equal((rec as { approver: string }).approver, 'bob');
      const res = (await h.result()) as RunbookResult;
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.proven?.via, a.unverified]),
        [['bob', 'ssh', undefined]],
      );
      assert.match(res.approvals[0]!.proven!.identity, /^ssh key SHA256:/);
    } finally {
      await w.stop();
    }
  });

  test('one operator under two names does not make a quorum of two', async () => {
    const dir = scratchDir('two-names');
    const bobKey = readFileSync(`${trust.keys.bob}.pub`, 'utf8').trim();
    const signers = join(dir, 'allowed_signers');
    writeFileSync(signers, `${readFileSync(trust.allowedSigners, 'utf8')}carol namespaces="runbook-verdict" ${bobKey}\n`);
    const w = await env.startWorker({ config: strict(signers, { quorum: 2 }) });
    try {
      const h = await env.start('labDrill', uniqueId('proof-two-names'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      const why = await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'bob'))));
      assert.match(why, /listed under several names \(.*bob.*carol.*\): one person, one name/);
      assert.match(await refusedUpdate(approve(h, 'carol', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'carol')))), /several names/);
      assert.equal((await status(h)).openGate?.approvals.length, 0);
    } finally {
      await w.stop();
    }
  });

  test("self-approval: the requester's own signed approval is refused (four-eyes)", async () => {
    const w = await env.startWorker({ config: strict() });
    try {
      const h = await env.start('labDrill', uniqueId('proof-self'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      assert.match(
        await refusedUpdate(approve(h, 'alice', signStatement(trust.keys.alice!, statementOf(h, v, 'approve', 'alice')))),
        /four-eyes: "alice" requested this run/,
      );
    } finally {
      await w.stop();
    }
  });

  test('verdicts pre-sent by Signal and by Update before the gate opens are ignored, never counted', async () => {
    const policies = structuredClone(env.config.policies); // allowUnverifiedApprovers: the check is about timing, not proof
    const w = await env.startWorker({ config: { policies } });
    try {
      const h = await env.start('labDrill', uniqueId('proof-presend'), { host: HOST, steps: 1, failAt: 1, requestedBy: 'alice' });
      await atPark(h, 'flaky step 1');
      await h.signal('approval', { gate: GATE, approver: 'bob', reason: 'pre-sent' });
      await h.signal('approval', { gate: GATE, approver: 'carol', reason: 'pre-sent reject', verdict: 'reject' });
      assert.match(
        await refusedUpdate(approve(h, 'carol')),
        /no gate is open \(asked for "write-marker"\): a verdict counts only for the gate open when it arrives/,
      );
      await h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'flaky' }] });
      const v = await atGate(h);
      assert.equal(v.openGate?.approvals.length, 0, 'nothing pre-sent counted');
      assert.equal(v.approvals.length, 0);
      assert.equal(v.ignored.filter((m) => /no gate is open/.test(m.why)).length, 3, JSON.stringify(v.ignored));
      await approve(h, 'bob');
      const res = (await h.result()) as RunbookResult;
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.unverified]),
        [['bob', true]],
      );
    } finally {
      await w.stop();
    }
  });

  test('a signed reject is not an approve; after a restart, and in a new run with the same id, old proofs are refused', async () => {
    const w = await env.startWorker({ config: strict() });
    const id = uniqueId('proof-replay');
    try {
      const h = await env.start('labDrill', id, { host: HOST, steps: 1, drill: 'restart', requestedBy: 'alice' });
      const first = await atGate(h);
      const carolReject = signStatement(trust.keys.carol!, statementOf(h, first, 'reject', 'carol'));
      assert.match(await refusedUpdate(approve(h, 'carol', carolReject)), /the proof is for the verdict "reject", not "approve"/);
      const bobApprove = signStatement(trust.keys.bob!, statementOf(h, first, 'approve', 'bob'));
      await approve(h, 'bob', bobApprove);
      const parked = await atPark(h, 'flaky after the gate');
      await h.executeUpdate('decide', {
        args: [{ decision: 'restart', reason: 'again', proof: signStatement(trust.keys.bob!, statementOf(h, parked, 'restart', 'bob')) }],
      });
      const second = await atGate(h);
      assert.notEqual(second.openGate!.nonce, first.openGate!.nonce);
      assert.match(await refusedUpdate(approve(h, 'bob', bobApprove)), /an earlier opening of this gate/);
      assert.match(await refusedUpdate(approve(h, 'carol', carolReject, 'reject')), /an earlier opening of this gate/);
      await h.terminate('next: a new run with the same id');
      await releaseRun(env.locks, env.inventory, id, (await h.describe()).runId);
      const h2 = await env.start('labDrill', id, { host: HOST, steps: 1, requestedBy: 'alice' });
      await atGate(h2);
      assert.match(await refusedUpdate(approve(h2, 'bob', bobApprove)), /another run \(same workflow id/);
      assert.match(await refusedUpdate(approve(h2, 'carol', carolReject, 'reject')), /another run/);
    } finally {
      await w.stop();
      const d = await env.client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      if (d) await releaseRun(env.locks, env.inventory, id, d.runId);
    }
  });

  test('an expired proof is refused', async () => {
    const w = await env.startWorker({ config: strict() });
    try {
      const h = await env.start('labDrill', uniqueId('proof-expired'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      const now = Date.now();
      const old = { issuedAt: new Date(now - 20 * 60_000).toISOString(), expiresAt: new Date(now - 10 * 60_000).toISOString() };
      assert.match(
        await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'bob', old)))),
        /the proof expired at .*: sign again/,
      );
    } finally {
      await w.stop();
    }
  });

  test('a signed approval after a refused one completes the run, the identity proven; its history is recorded for replay', async () => {
    // The replay test keeps this history: runs whose proofs were checked by an activity task (before the
    // check became a local activity) must replay on every later build.
    const w = await env.startWorker({ config: strict() });
    try {
      const h = await env.start('labDrill', uniqueId('proof-signed'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      assert.match(await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.carol!, statementOf(h, v, 'approve', 'bob')))), /proof refused/);
      await approve(h, 'bob', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'bob')));
      const res = (await h.result()) as RunbookResult;
      assert.equal(res.status, 'Completed');
      assert.deepEqual(
        res.approvals.map((a) => [a.approver, a.proven?.via, a.unverified]),
        [['bob', 'ssh', undefined]],
      );
      // Both proofs were checked by local activities (markers), not activity tasks through the server.
      const events = (await h.fetchHistory()).events ?? [];
      assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyVerdictProof').length, 0);
      assert.equal(
        textOf(events.filter((e) => e.markerRecordedEventAttributes))
          .join('\n')
          .match(/verifyVerdictProof/g)?.length,
        2,
      );
      await saveHistory(h, 'labDrill-signed-approval');
    } finally {
      await w.stop();
    }
  });

  test('a key removed from allowed_signers while the run is parked at the gate no longer counts', async () => {
    const signers = join(scratchDir('revoked'), 'allowed_signers');
    copyFileSync(trust.allowedSigners, signers);
    const w = await env.startWorker({ config: strict(signers) });
    try {
      const h = await env.start('labDrill', uniqueId('proof-revoked'), { host: HOST, steps: 1, requestedBy: 'alice' });
      const v = await atGate(h);
      writeFileSync(
        signers,
        readFileSync(signers, 'utf8')
          .split('\n')
          .filter((l) => !l.startsWith('bob '))
          .join('\n'),
      );
      assert.match(
        await refusedUpdate(approve(h, 'bob', signStatement(trust.keys.bob!, statementOf(h, v, 'approve', 'bob')))),
        /not in allowed_signers \(unknown, or removed\)/,
      );
      await approve(h, 'carol', signStatement(trust.keys.carol!, statementOf(h, v, 'approve', 'carol')));
      assert.equal(((await h.result()) as RunbookResult).approvals[0]?.approver, 'carol');
    } finally {
      await w.stop();
    }
  });

  test('decisions: skip of a check is refused for anyone; a decision needs a proven approver of the policy', async () => {
    const w = await env.startWorker({ config: strict() });
    try {
      const h = await env.start('labDrill', uniqueId('proof-skip'), { host: HOST, steps: 1, drill: 'check', requestedBy: 'alice' });
      const v = await atPark(h, 'check drill host');
      const skip = signStatement(trust.keys.bob!, statementOf(h, v, 'skip', 'bob'));
      assert.match(
        await refusedUpdate(h.executeUpdate('decide', { args: [{ decision: 'skip', reason: 'in a hurry', proof: skip }] })),
        /is a check and cannot be skipped/,
      );
      await h.signal('decision', { decision: 'skip', reason: 'in a hurry', proof: skip });
      assert.match(
        await refusedUpdate(h.executeUpdate('decide', { args: [{ decision: 'retry', operator: 'bob', reason: 'plain' }] })),
        /a decision needs a proof of who decides: `npx runbook decide/,
      );
      const self = signStatement(trust.keys.alice!, statementOf(h, v, 'retry', 'alice'));
      assert.match(
        await refusedUpdate(h.executeUpdate('decide', { args: [{ decision: 'retry', reason: 'mine', proof: self }] })),
        /four-eyes: "alice" requested this run and cannot decide for it/,
      );
      await h.executeUpdate('decide', {
        args: [{ decision: 'retry', reason: 'transient', proof: signStatement(trust.keys.bob!, statementOf(h, v, 'retry', 'bob')) }],
      });
      const at = await atGate(h);
      assert.ok(
        at.ignored.some((m) => m.kind === 'decision' && /cannot be skipped/.test(m.why)),
        JSON.stringify(at.ignored),
      );
      assert.deepEqual(
        at.decisions.map((d) => [d.decision, d.operator, d.proven?.via]),
        [['retry', 'bob', 'ssh']],
      );
    } finally {
      await w.stop();
    }
  });
});
