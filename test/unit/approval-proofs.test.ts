// The pure parts of verdict proofs: the signed statement and its binding to one opening of one gate,
// Slack-style signatures and their window, allowed_signers lookups, the codec's request detection and
// password hashes, and shell-quoted suggested commands.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { chatAction, chatSignatureValid, keyFingerprint, principalsOf, signerKeyBlob } from '../../activities/runbook/verdict-proofs.js';
import { passwordMatches, verdictRequest } from '../../scripts/codec-auth.js';
import { passwordHash } from '../../scripts/lab-trust.js';
import { approveCommands, decideCommands } from '../../workflows/engine/details.js';
import { approverRefusal, type GatePolicy } from '../../workflows/engine/policy.js';
import {
  bindingRefusal,
  canonicalStatement,
  chatTimestampRefusal,
  parseStatement,
  type Expected,
  type VerdictStatement,
} from '../../workflows/engine/proofs.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const st: VerdictStatement = {
  namespace: 'default',
  workflowId: 'wf-1',
  runId: 'run-1',
  gate: 'drop-database',
  gateNonce: 'nonce-1',
  verdict: 'approve',
  fingerprint: 'f'.repeat(64),
  approver: 'bob',
  issuedAt: '2026-12-03T11:58:00Z',
  expiresAt: '2026-12-03T12:08:00Z',
};
const want: Expected = {
  namespace: 'default',
  workflowId: 'wf-1',
  runId: 'run-1',
  gate: 'drop-database',
  gateNonce: 'nonce-1',
  verdict: 'approve',
  fingerprint: 'f'.repeat(64),
};

describe('the signed statement', () => {
  test('canonical text round-trips; extra fields, missing fields and other key orders are refused', () => {
    const text = canonicalStatement(st);
    assert.deepEqual(parseStatement(text), st);
    assert.match(String(parseStatement(JSON.stringify({ ...st, admin: true }))), /unknown fields: admin/);
    const noRun: Partial<VerdictStatement> = { ...st };
    delete noRun.runId;
    assert.match(String(parseStatement(JSON.stringify(noRun))), /lacks "runId"/);
    const reordered = Object.fromEntries(Object.entries(st).reverse());
    assert.match(String(parseStatement(JSON.stringify(reordered))), /canonical form/);
    assert.match(String(parseStatement('not json')), /not JSON/);
  });

  test('a proof binds namespace, workflow, run, gate, opening, verdict and plan, within its lifetime', () => {
    assert.equal(bindingRefusal(st, want, NOW), undefined);
    const rows: [Partial<Expected>, RegExp][] = [
      [{ namespace: 'prod' }, /another namespace/],
      [{ workflowId: 'wf-2' }, /another workflow/],
      [{ runId: 'run-2' }, /another run \(same workflow id/],
      [{ gate: 'other' }, /another gate/],
      [{ gateNonce: 'nonce-2' }, /an earlier opening of this gate/],
      [{ verdict: 'reject' }, /the verdict "approve", not "reject"/],
      [{ fingerprint: '0'.repeat(64) }, /another plan/],
    ];
    for (const [over, why] of rows) assert.match(bindingRefusal(st, { ...want, ...over }, NOW) ?? '', why, JSON.stringify(over));
    assert.match(bindingRefusal(st, want, Date.parse('2026-12-03T12:08:01Z')) ?? '', /expired at/);
    assert.match(bindingRefusal({ ...st, issuedAt: '2026-12-03T12:05:00Z' }, want, NOW) ?? '', /issued in the future/);
    assert.match(bindingRefusal({ ...st, expiresAt: st.issuedAt }, want, NOW) ?? '', /expires before/);
  });
});

describe('who may decide, once known', () => {
  const policy: GatePolicy = {
    approvers: ['bob', 'carol'],
    quorum: 2,
    fourEyes: true,
    timeout: '1h',
    onTimeout: 'reject',
    remindEvery: '1h',
    allowUnverifiedApprovers: false,
  };
  const open = { name: 'g', fingerprint: 'f', approvals: ['bob'], identities: ['ssh key SHA256:abc'] };
  test('not listed, the requester, twice by name, twice by identity', () => {
    assert.match(approverRefusal({ approver: 'mallory' }, open, policy, 'alice') ?? '', /not allowed/);
    assert.match(approverRefusal({ approver: 'carol' }, open, policy, 'carol') ?? '', /four-eyes/);
    assert.match(approverRefusal({ approver: 'bob' }, open, policy, 'alice') ?? '', /already approved/);
    assert.match(
      approverRefusal({ approver: 'carol', identity: 'ssh key SHA256:abc' }, open, policy, 'alice') ?? '',
      /under another name: one person counts once/,
    );
    assert.equal(approverRefusal({ approver: 'carol', identity: 'ssh key SHA256:def' }, open, policy, 'alice'), undefined);
  });
});

describe('chat callbacks', () => {
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const body = `payload=${encodeURIComponent(JSON.stringify({ user: { id: 'UBOB' }, actions: [{ action_id: 'approve', value: canonicalStatement(st) }] }))}`;
  const sign = (ts: string, b: string, k = secret): string => `v0=${createHmac('sha256', k).update(`v0:${ts}:${b}`).digest('hex')}`;
  test('v0 HMAC over timestamp and body; any change to either, or another secret, fails', () => {
    const ts = String(NOW / 1000);
    assert.ok(chatSignatureValid(secret, ts, body, sign(ts, body)));
    assert.ok(!chatSignatureValid(secret, String(NOW / 1000 + 1), body, sign(ts, body)));
    assert.ok(!chatSignatureValid(secret, ts, `${body}x`, sign(ts, body)));
    assert.ok(!chatSignatureValid(secret, ts, body, sign(ts, body, 'other')));
    assert.ok(!chatSignatureValid(secret, ts, body, 'v0=short'));
  });
  test('a 5-minute window either side', () => {
    assert.equal(chatTimestampRefusal(String(NOW / 1000 - 299), NOW), undefined);
    assert.match(chatTimestampRefusal(String(NOW / 1000 - 301), NOW) ?? '', /a replay/);
    assert.match(chatTimestampRefusal(String(NOW / 1000 + 301), NOW) ?? '', /a replay/);
    assert.match(chatTimestampRefusal('soon', NOW) ?? '', /no valid timestamp/);
  });
  test('the user and the button value of a block_actions payload', () => {
    assert.deepEqual(chatAction(body), { user: 'UBOB', value: canonicalStatement(st), actionId: 'approve' });
    assert.match(String(chatAction('x=1')), /no payload/);
  });
});

describe('allowed_signers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unit-signers-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
  const pub = readFileSync(join(dir, 'k.pub'), 'utf8').trim();
  const sig = execFileSync('ssh-keygen', ['-Y', 'sign', '-f', join(dir, 'k'), '-n', 'runbook-verdict', '-q'], { input: 'x', encoding: 'utf8' });
  const key = signerKeyBlob(sig)!;
  test('the key inside a signature, and its fingerprint as ssh-keygen -l shows it', () => {
    assert.equal(key.toString('base64'), pub.split(' ')[1]);
    assert.ok(execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).includes(keyFingerprint(key)));
    assert.equal(signerKeyBlob('not a signature'), undefined);
  });
  test('every name of a key over all lines (find-principals stops at the first), by namespace', () => {
    assert.deepEqual(principalsOf(`bob ${pub}\ncarol ${pub}\n`, key, 'runbook-verdict'), ['bob', 'carol']);
    assert.deepEqual(principalsOf(`bob,robert namespaces="runbook-verdict" ${pub}`, key, 'runbook-verdict'), ['bob', 'robert']);
    assert.deepEqual(principalsOf(`# comment\nbob namespaces="git" ${pub}`, key, 'runbook-verdict'), []);
    assert.deepEqual(principalsOf(`bob cert-authority ${pub}`, key, 'runbook-verdict'), []);
  });
});

describe('the codec server', () => {
  test('a verdict or decision from the UI is recognized only with its workflow id and without a proof', () => {
    assert.deepEqual(verdictRequest({ workflowId: 'w', gate: 'g', reason: 'r' }), { workflowId: 'w', gate: 'g', verdict: 'approve' });
    assert.deepEqual(verdictRequest({ workflowId: 'w', gate: 'g', verdict: 'reject' }), { workflowId: 'w', gate: 'g', verdict: 'reject' });
    assert.deepEqual(verdictRequest({ workflowId: 'w', decision: 'retry' }), { workflowId: 'w', verdict: 'retry' });
    assert.equal(verdictRequest({ workflowId: 'w', gate: 'g', proof: {} }), undefined);
    assert.equal(verdictRequest({ host: 'x', requestedBy: 'alice' }), undefined);
  });
  test('scrypt password hashes', () => {
    const h = passwordHash('s3cret');
    assert.ok(passwordMatches(h, 's3cret'));
    assert.ok(!passwordMatches(h, 's3cret!'));
    assert.ok(!passwordMatches('plain', 's3cret'));
  });
});

describe('suggested commands', () => {
  test('a workflow id or gate chosen by a requester is shell-quoted in every suggested command', () => {
    const lines = [...approveCommands('a;touch /tmp/x;', "g'1"), ...decideCommands('$(reboot)')];
    assert.ok(lines[0]!.startsWith(`npx runbook approve 'a;touch /tmp/x;' --gate 'g'\\''1'`), lines[0]);
    assert.ok(lines[2]!.startsWith(`npx runbook decide '$(reboot)' retry`), lines[2]);
    // Each line, run by sh with `npx` replaced by printf, yields the id as ONE literal word.
    const words = execFileSync('sh', ['-c', `set -- ${lines[0]!.replace(/^npx runbook approve /, '')}; printf '%s\\n' "$1"`], { encoding: 'utf8' });
    assert.equal(words, 'a;touch /tmp/x;\n');
  });
});
