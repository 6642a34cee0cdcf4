// A stand-in for ReaR's rescue ISO, for every test but the heavy one: a real El Torito ISO (xorriso) whose
// boot image prints what ReaR's rescue console prints and halts. A guest that boots it proves the domain
// booted from the cdrom; the unattended variant prints ReaR's own result line, which the runbook watches
// for. A real `rear mkrescue` ISO takes ~50 s to build and ~160 s to boot under TCG: that is the heavy test.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cdromBootImage } from '../scripts/lab/serial-boot-sector.js';
import type { TestEnv } from './harness.js';

export interface StandInIso {
  file: string;
  sha256: string;
  bytes: number;
}

/** `console`: the lines the rescue system prints; e.g. ReaR's "'rear recover' finished successfully". */
export function standInRescueIso(dir: string, host: string, console: string): StandInIso {
  const root = join(dir, 'iso-root');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'boot.img'), cdromBootImage(`\nRESCUE ${host}\n${console}`));
  writeFileSync(join(root, 'README'), `stand-in rescue image of ${host} (runbooks test)\n`);
  const file = join(dir, `rear-${host}.iso`);
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', 'RELAXRECOVER', '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4', '-o', file, root], {
    stdio: 'pipe',
  });
  const data = readFileSync(file);
  return { file, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
}

/** What rearBackup leaves on the store: <base>/<host>/rear-<host>.iso and runbook-record.json (the documented contract). */
export function placeBackup(
  env: TestEnv,
  base: string,
  host: string,
  iso: { file: string; sha256: string; bytes: number },
  record: Record<string, unknown> = {},
): void {
  const dir = join(base, host);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  copyFileSync(iso.file, join(dir, `rear-${host}.iso`));
  // A real (small) tar.gz: recovery's preflight lists it with tar -tzf and checks its sha256 and size.
  writeFileSync(join(dir, 'stand-in'), 'stand-in backup archive\n');
  execFileSync('tar', ['-czf', join(dir, 'backup.tar.gz'), '-C', dir, 'stand-in']);
  rmSync(join(dir, 'stand-in'));
  const archive = readFileSync(join(dir, 'backup.tar.gz'));
  const backupSha = createHash('sha256').update(archive).digest('hex');
  const text = JSON.stringify({
    host,
    iso: { file: `rear-${host}.iso`, sha256: iso.sha256, bytes: iso.bytes },
    backup: { file: 'backup.tar.gz', sha256: backupSha, bytes: archive.length },
    rearVersion: '2.7.0',
    recordedAt: '2026-11-29T06:00:00Z',
    createdAt: '2026-11-29T06:00:00Z',
    location: `${host}/runbook-record.json`,
    workflowId: 'rear-backup-test',
    runId: 'test',
    ...record,
  });
  writeFileSync(join(dir, 'runbook-record.json'), text);
  // Signed as rearBackup does, with this worker's lab key (scripts/setup.sh made it).
  const key = join(env.config.dataDir, 'keys', 'bundle-signing');
  writeFileSync(join(dir, 'runbook-record.json.sig'), execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', key, '-n', 'runbooks-backup'], { input: text }));
}
