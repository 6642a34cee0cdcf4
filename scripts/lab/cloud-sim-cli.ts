// `node build/scripts/lab/cloud-sim-cli.js [port]`: the cloud simulator for trying the openstack runbooks by
// hand. Writes a clouds.yaml (cloud "lab", mode 0600) under .data/cloud-sim/ and prints how to point the
// worker at it. Ctrl-C stops it. A test double: no real cloud behind it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startCloudSim } from './cloud-sim.js';
import { makeGuestDisk } from './guest-disk.js';

async function main(): Promise<void> {
  const dir = resolve(process.env.RUNBOOK_DATA_DIR ?? '.data', 'cloud-sim');
  mkdirSync(dir, { recursive: true });
  const user = { name: 'rbops', password: randomBytes(12).toString('base64url'), project: 'lab-project' };
  // A real ext4 guest disk, so openstackClone/Move/Rename have something for virt-sysprep to clean.
  const baseImage = join(dir, 'guest.qcow2');
  makeGuestDisk(baseImage, { hostname: 'lab-guest', machineId: randomBytes(16).toString('hex') });
  const sim = await startCloudSim({
    port: Number(process.argv[2] ?? 0),
    dataDir: join(dir, 'images'),
    baseImage,
    user,
    servers: [{ name: 'web-1' }, { name: 'web-off', status: 'SHUTOFF' }, { name: 'db-volume', volumeBacked: true }, { name: 'web-stuck' }],
    faults: { killImages: ['snap-killed'], stuckRebuild: ['web-stuck'] },
  });
  const clouds = join(dir, 'clouds.yaml');
  writeFileSync(
    clouds,
    `clouds:\n  lab:\n    auth:\n      auth_url: ${sim.authUrl}\n      username: ${user.name}\n      password: ${user.password}\n      project_name: ${user.project}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n`,
    { mode: 0o600 },
  );
  console.log(
    `cloud simulator on ${sim.authUrl} (servers web-1, web-off SHUTOFF, db-volume volume-backed, web-stuck stuck in REBUILD; snapshots named snap-killed end killed)`,
  );
  console.log(`start the worker with RUNBOOK_OPENSTACK_CLOUDS=${clouds}, then e.g.`);
  console.log(
    `  temporal workflow start --task-queue runbooks --type openstackSnapshot --input '{"cloud":"lab","server":"web-1","name":"web-1-ref","requestedBy":"alice","resyncClock":false}'`,
  );
  console.log(
    `  temporal workflow start --task-queue runbooks --type openstackClone --input '{"cloud":"lab","server":"web-1","newName":"web-2","flavor":"m2.small","keyName":"lab-key","requestedBy":"alice"}'`,
  );
  const stop = () => void sim.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
