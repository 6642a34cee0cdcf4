// The preflight that rearControllerRecovery and rearRecoveryDrill share: the backup's signed record on the
// store, and the ISO and archive measured against it, before anything is started or powered off. One place,
// so the drill proves exactly the checks the recovery relies on.
import { remote, stdoutOf } from '../engine/commands.js';
import { activity, read } from '../engine/runbook.js';
import { parseChecks, parseMeasure } from './backup-steps.js';
import { storedRefusal, type RecordedBackup } from './recovery-checks.js';
import listRecord from './scripts/list-record.sh';
import measure from './scripts/measure.sh';
import readSignedRecord from './scripts/read-signed-record.sh';
import type { VerifiedRecord } from '../../activities/store/signing.js';

/**
 * The record of `host`'s backup in `dir` on `store`: its signature checked, then the signed file read and
 * judged by `refusal`; then the ISO (`iso`) and the archive it names measured on the store against it.
 */
export function recordedBackupSteps(store: string, dir: string, host: string, iso: string, refusal: (r: RecordedBackup) => string | undefined) {
  const recordSignature = read(
    "check the backup record's signature",
    () =>
      activity('verifyBackupRecords', {
        list: remote(store, ['sh', '-c', listRecord, 'list-record', dir, host], { sudo: true }),
        file: 'runbook-record.json',
      }),
    { verdict: true, parse: (v: VerifiedRecord[]) => v[0]!, expect: (v) => (v.problem ? `${v.problem}; nothing was changed` : undefined) },
  );
  const record = read(
    'read the backup record',
    (ctx) => remote(store, ['sh', '-c', readSignedRecord, 'read-record', `${dir}/runbook-record.json`, recordSignature.value(ctx).sha256!], { sudo: true }),
    { verdict: true, parse: (r) => JSON.parse(stdoutOf(r)) as RecordedBackup, expect: refusal },
  );
  // A truncated or later archive is refused here, while the machine still runs, not found out after the
  // rescue system wiped its disks.
  const stored = read(
    'check the ISO and the archive on the store',
    (ctx) => remote(store, ['sh', '-c', measure, 'measure', dir, iso, record.value(ctx).backup.file], { sudo: true, timeoutSeconds: 3600 }),
    {
      verdict: true,
      parse: (r) => ({ files: parseMeasure(stdoutOf(r)), checks: parseChecks(stdoutOf(r)) }),
      expect: (got, ctx) => storedRefusal(record.value(ctx), dir, got.files, got.checks),
    },
  );
  return { recordSignature, record, stored };
}
