// The worker's audit store: files private to the worker's user, and a reused workflow id (or a second
// execution under one name) adds to what an earlier run wrote instead of truncating it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditStore } from '../../activities/runbook/audit-store.js';

test('audit files are 0600 in a 0700 directory, and a reused workflow id never truncates the earlier run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'audit-'));
  const audit = new AuditStore(root);
  const first = audit.open('drill-1', '1.0.r0', 'write marker');
  first.stdout.write(Buffer.from('first run\n'));
  await first.stdout.close();
  await first.stderr.close();
  audit.record('drill-1', { step: 'write marker', runKey: '1.0.r0' } as Parameters<AuditStore['record']>[1]);
  const file = join(root, `${first.ref}.stdout`);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(root, 'drill-1')).mode & 0o777, 0o700);
  assert.equal(statSync(join(root, 'drill-1', 'commands.jsonl')).mode & 0o777, 0o600);
  const again = audit.open('drill-1', '1.0.r0', 'write marker'); // the same workflow id, started again
  again.stdout.write(Buffer.from('second run\n'));
  await again.stdout.close();
  await again.stderr.close();
  const text = readFileSync(file, 'utf8');
  assert.ok(text.startsWith('first run\n'), 'the earlier run is kept');
  assert.ok(text.endsWith('second run\n'));
});
