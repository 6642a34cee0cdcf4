// What the backup store side of the worker knows: whether bundles are encrypted at rest, and to whom.
// Public keys only; the identity (private key) stays a file on the worker, used by the pipe to decrypt.
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../../workers/config.js';

export interface BackupEncryption {
  tool: 'age' | 'none';
  /** age public keys every bundle file is encrypted to. */
  recipients: string[];
}

export function makeBackupStoreActivities(config: WorkerConfig) {
  return {
    // No request to speak of; an empty one lets a step call it like any other activity (plans show `{}`).
    async backupEncryption(_request: Record<string, never> = {}): Promise<BackupEncryption> {
      const recipients = config.backups.ageRecipients;
      return recipients.length ? { tool: 'age', recipients } : { tool: 'none', recipients: [] };
    },
  };
}

/** The argv of the worker-local filter a pipe runs through (age from Debian, on the worker). */
export function ageFilter(t: { encryptTo?: string[]; decrypt?: boolean }, config: WorkerConfig): string[] {
  if (t.encryptTo?.length) return ['age', '--encrypt', ...t.encryptTo.flatMap((r) => ['-r', r])];
  if (t.decrypt) {
    const identity = config.backups.ageIdentityFile;
    if (!identity) {
      throw ApplicationFailure.create({
        message: 'the bundle is encrypted and this worker has no backups.ageIdentityFile (RUNBOOK_BACKUP_AGE_IDENTITY) to decrypt it',
        type: 'InvalidConfig',
        nonRetryable: true,
      });
    }
    return ['age', '--decrypt', '-i', identity];
  }
  return [];
}
