// What a person reads of long work and of a run, without a lab: the progress line of a transfer (done of
// total, the rate of the last seconds, time left), and the summary and id a run is started with.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransferProgress, formatBytes } from '../../activities/progress.js';
import { describingWorkflowId, runSummary } from '../../scripts/cli/run-summary.js';
import { renderWatch } from '../../scripts/cli/watch.js';

const MiB = 1024 * 1024;

describe('transfer progress', () => {
  test('done of total, the rate of the window, time left', () => {
    let now = 0;
    const p = new TransferProgress(1024 * MiB, 15_000, () => now);
    for (let s = 1; s <= 10; s++) {
      now = s * 1000;
      p.update(s * 40 * MiB);
    }
    const d = p.details('pg_dump: dumping contents of table "public.lava_scheduler_app_testjob"');
    assert.equal(d.bytesDone, 400 * MiB);
    assert.equal(d.bytesTotal, 1024 * MiB);
    assert.equal(d.bytesPerSecond, 40 * MiB);
    assert.equal(d.etaSeconds, 16);
    assert.equal(d.progress, '400 MiB of 1.0 GiB (39%), 40 MiB/s, about 16 s left');
    assert.match(d.line ?? '', /pg_dump/);
  });

  test('the rate follows the last seconds, not the average since the start', () => {
    let now = 0;
    const p = new TransferProgress(undefined, 5_000, () => now);
    for (let s = 1; s <= 20; s++) {
      now = s * 1000;
      p.update(s <= 10 ? s * 100 * MiB : 1000 * MiB + (s - 10) * MiB);
    }
    const d = p.details();
    assert.equal(d.bytesPerSecond, MiB);
    assert.equal(d.etaSeconds, undefined, 'no total, no estimate');
    assert.match(d.progress, /^1010 MiB so far, 1.0 MiB\/s$/);
  });

  test('sizes read like sizes', () => {
    assert.deepEqual([formatBytes(512), formatBytes(1536), formatBytes(5 * MiB), formatBytes(300 * MiB)], ['512 B', '1.5 KiB', '5.0 MiB', '300 MiB']);
  });
});

describe('what a run says it is', () => {
  const input = { master: 'lava-master', store: 'backup-store', bundle: 'latest', requestedBy: 'alice' };

  test('summary: runbook, hosts, bundle, requester', () => {
    const s = runSummary('lavaMasterRestore', input, 'runbook start');
    assert.equal(s.staticSummary, 'lavaMasterRestore on lava-master, backup-store · bundle latest · requested by alice');
    assert.match(s.staticDetails, /\| bundle \| latest \|/);
  });

  test('the workflow id names the hosts (the Web UI list shows ids, not summaries)', () => {
    assert.equal(
      describingWorkflowId('lavaMasterRestore', input, new Date('2026-12-03T12:52:02.230Z')),
      'lavaMasterRestore-lava-master-backup-store-2026-12-03T12-52-02-230Z',
    );
    assert.match(
      describingWorkflowId('rearBackup', { nodes: ['controller-0'], store: 'backup-store', dryRun: true }),
      /^rearBackup-plan-controller-0-backup-store-/,
    );
  });

  test('runbook watch draws the running step with a bar, its rate and time left', () => {
    const screen = renderWatch(
      'lb-1',
      'RUNNING',
      undefined,
      [
        {
          activity: 'pipeCommands',
          attempt: 1,
          details: { progress: '400 MiB of 1.0 GiB (39%), 40 MiB/s, about 16 s left', bytesDone: 400 * MiB, bytesTotal: 1024 * MiB },
        },
      ],
      3,
    );
    assert.match(screen, /pipeCommands: .*400 MiB of 1\.0 GiB \(39%\), 40 MiB\/s, about 16 s left/);
  });
});
