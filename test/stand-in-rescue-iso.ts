// A stand-in for ReaR's rescue ISO, for every test but the heavy one: a real El Torito ISO (xorriso) whose
// boot image prints what ReaR's rescue console prints and halts. A guest that boots it proves the domain
// booted from the cdrom; the unattended variant prints ReaR's own result line, which the runbook watches
// for. A real `rear mkrescue` ISO takes ~50 s to build and ~160 s to boot under TCG: that is the heavy test.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { cdromBootImage } from '../scripts/lab/serial-boot-sector.js';

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
