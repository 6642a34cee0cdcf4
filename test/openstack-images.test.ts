// openstackClone, openstackMove and openstackRename against the CLOUD SIMULATOR (scripts/lab/cloud-sim.ts,
// the suite's one test double: no OpenStack cloud runs here) with REAL image work: the simulated servers
// boot a real ext4 guest disk (scripts/lab/guest-disk.ts), snapshots copy it, and the runbooks download it to
// the lab's real `cloud-client` sshd host, run the real virt-sysprep (libguestfs appliance, TCG) and
// qemu-img there, and upload the result. The guest files are then read back with guestfish (libguestfs).
// What it proves:
// - each runbook completes: a new server, ACTIVE, on a new qcow2 image with os=LINUX, sha512 as on the host;
// - clone: the copy's machine id is replaced and its SSH host keys and keytab are gone, while the
//   snapshot glance keeps (the original) still has all three;
// - move keeping the name: the source is deleted only after the target image is active and checksummed,
//   through the `delete-source` gate, and the server is created again only once its DNS entry has expired;
// - move with a damaged upload: Failed at the checksum, the source never deleted, no gate opened;
// - rename: the new hostname is in the guest, the old server deleted after the new one was verified;
// - refusals before anything changes: volume-backed, transitional state, a name taken, bad input;
// - retried download/upload/create activities reuse what their run made (one image, one server per name),
//   and the DNS wait parks at its bound instead of waiting forever.
// Four sysprep runs share the machine at once (one appliance each): about a minute on 2 cores.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { makeCloudApi } from '../activities/openstack/api.js';
import { makeOpenstackDnsActivities } from '../activities/openstack/dns.js';
import { makeOpenstackImageFileActivities } from '../activities/openstack/image-files.js';
import { makeOpenstackServerActivities } from '../activities/openstack/servers.js';
import { SshPool } from '../activities/ssh/ssh.js';
import type { WorkerConfig } from '../workers/config.js';
import { startCloudSim, type CloudSim } from '../scripts/lab/cloud-sim.js';
import { DnsZone, startDnsSim, type DnsSim } from '../scripts/lab/dns-sim.js';
import { makeGuestDisk } from '../scripts/lab/guest-disk.js';
import type { ImageView } from '../workflows/openstack/rules.js';
import { failureOf, historyText, scratchDir, status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';
import { saveHistory } from './history-files.js';

/**
 * scripts/setup.sh starts the libguestfs appliance once and writes the outcome here. Where it cannot start,
 * everything that needs virt-sysprep or guestfish is skipped, and said so loudly; the rest still runs.
 */
const probeFile = join(process.cwd(), '.data', 'tools', 'libguestfs-probe');
const guestfsProblem = existsSync(probeFile) && readFileSync(probeFile, 'utf8').trim() !== 'ok' ? readFileSync(probeFile, 'utf8').trim() : undefined;
const needsGuestfs = guestfsProblem ? { skip: `LIBGUESTFS ${guestfsProblem}: virt-sysprep NOT TESTED on this machine` } : {};

let env: TestEnv;
let lab: CloudSim;
let lab2: CloudSim;
let dns: DnsSim;
let worker: RunningWorker;
const zone = new DnsZone(1500);
// pw-<24 hex>: the pattern zz-secrets.test.ts looks for in every history.
const pw = { lab: `pw-${randomBytes(12).toString('hex')}`, lab2: `pw-${randomBytes(12).toString('hex')}` };
const machineId = randomBytes(16).toString('hex');
let sysprepEnv: Record<string, string> = {};
let openstack: WorkerConfig['openstack'];

before(async () => {
  if (guestfsProblem) console.error(`\n*** ${needsGuestfs.skip} (${probeFile}) ***\n`);
  env = await testEnv();
  const dir = scratchDir('openstack-images');
  const disk = join(dir, 'guest.qcow2');
  makeGuestDisk(disk, { hostname: 'lab-guest', machineId });
  dns = await startDnsSim(zone);
  const sim = (project: string, password: string, servers: Parameters<typeof startCloudSim>[0]['servers']) =>
    startCloudSim({
      dataDir: join(dir, project),
      user: { name: 'rbops', password, project },
      servers,
      baseImage: disk,
      dns: zone,
      stepMs: 200,
      faults: { corruptUploads: ['bad-2-image'] },
    });
  lab = await sim('lab-project', pw.lab, [
    { name: 'web-1' },
    { name: 'app-1' },
    { name: 'db-1', status: 'SHUTOFF' },
    { name: 'bad-1' },
    { name: 'vol-1', volumeBacked: true },
    { name: 'busy-1' },
  ]);
  lab2 = await sim('other-project', pw.lab2, []);
  const clouds = join(dir, 'clouds.yaml');
  const entry = (name: string, s: CloudSim, project: string, password: string) => [
    `  ${name}:`,
    '    auth:',
    `      auth_url: ${s.authUrl}`,
    '      username: rbops',
    `      password: "${password}"`,
    `      project_name: ${project}`,
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    '    region_name: RegionOne',
  ];
  writeFileSync(clouds, ['clouds:', ...entry('lab', lab, 'lab-project', pw.lab), ...entry('lab2', lab2, 'other-project', pw.lab2), ''].join('\n'), {
    mode: 0o600,
  });
  // The worker's own sysprep environment (workers/runbooks.yaml: force_tcg on this KVM-less machine).
  sysprepEnv = env.config.openstack.sysprep.env;
  openstack = {
    ...env.config.openstack,
    cloudsYaml: clouds,
    pollSeconds: 0.2,
    imageTimeoutSeconds: 30,
    serverTimeoutSeconds: 10,
    sysprep: { ...env.config.openstack.sysprep, deletePaths: ['/etc/krb5.keytab'] },
    dns: { servers: [dns.server], domain: null, timeoutSeconds: 30, pollSeconds: 0.3 },
  };
  worker = await env.startWorker({ config: { openstack } });
});
// Runs span tests (started together, checked one by one): cleaned up only at the end.
after(async () => {
  await env?.endRuns();
  // A failed run keeps its image files for inspection (README); this suite's are removed.
  for (const h of Object.values(runs ?? {})) rmSync(join(env.config.openstack.imageDir, h.workflowId), { recursive: true, force: true });
  await worker?.stop();
  await env?.close();
  await lab?.close();
  await lab2?.close();
  await dns?.close();
});

function settled(h: WorkflowHandle, timeoutMs = 600_000) {
  return waitFor(
    'the run to finish, fail or park',
    async () => {
      const v = await status(h);
      return ['Completed', 'Parked', 'Failed', 'Aborted'].includes(v.status) && v;
    },
    timeoutMs,
  );
}

/** Files of several guest disks, read in ONE libguestfs appliance (each start costs tens of seconds under TCG). */
// Async: a blocked event loop would also stall this process's worker and the simulators' HTTP servers.
async function guestFiles(disks: string[], files: string[]): Promise<{ [file: string]: string | null }[]> {
  const script = ['run'];
  disks.forEach((_, d) => {
    script.push(`mount-ro /dev/sd${String.fromCharCode(97 + d)} /`);
    files.forEach((f) => script.push(`echo @@${d}@@${f}`, `is-file ${f}`, `-cat ${f}`));
    script.push('umount /');
  });
  const fish = promisify(execFile)('guestfish', ['--ro', ...disks.flatMap((f) => ['--format=qcow2', '-a', f])], {
    encoding: 'utf8',
    env: { ...process.env, ...sysprepEnv },
  });
  fish.child.stdin!.end(script.join('\n'));
  const out = (await fish).stdout;
  const result = disks.map(() => ({}) as { [file: string]: string | null });
  for (const part of out.split(/^@@/m).slice(1)) {
    const m = /^(\d+)@@(\S+)\n(true|false)\n([\s\S]*)$/.exec(part);
    assert.ok(m, `guestfish output: ${part}`);
    result[Number(m[1])]![m[2]!] = m[3] === 'true' ? m[4]!.trim() : null;
  }
  return result;
}

const fileOf = (s: CloudSim, name: string): string => {
  const found = s.state.imagesNamed(name);
  assert.equal(found.length, 1, `one image named ${name}`);
  return found[0]!.file!;
};
const noChange = (s: CloudSim): number => s.state.log.filter((l) => /^(POST \/compute\/v2\.1\/servers|DELETE |POST \/image|PUT )/.test(l)).length;

test('refused before anything changes: volume-backed, transitional state, a taken name, bad input (fields named)', async () => {
  const before = noChange(lab);
  const busy = lab.state.serverNamed('busy-1');
  busy.taskState = 'migrating';
  const runs = {
    volume: await env.start('openstackClone', uniqueId('os-clone-vol'), {
      cloud: 'lab',
      server: 'vol-1',
      newName: 'vol-2',
      flavor: 'm2.small',
      keyName: 'lab-key',
      requestedBy: 'alice',
    }),
    busy: await env.start('openstackMove', uniqueId('os-move-busy'), {
      fromCloud: 'lab',
      toCloud: 'lab2',
      server: 'busy-1',
      keepName: true,
      requestedBy: 'alice',
    }),
    taken: await env.start('openstackClone', uniqueId('os-clone-taken'), {
      cloud: 'lab',
      server: 'web-1',
      newName: 'app-1',
      flavor: 'm2.small',
      keyName: 'lab-key',
      requestedBy: 'alice',
    }),
  };
  assert.match((await failureOf(runs.volume)).message, /server vol-1 \([0-9a-f-]+\) boots from a Cinder volume \(no image\)/);
  assert.match((await failureOf(runs.busy)).message, /server busy-1 is in a transitional state \(status ACTIVE, task migrating\): a move is refused/);
  assert.match((await failureOf(runs.taken)).message, /cloud lab already has a server named app-1/);
  busy.taskState = null;

  const bad = await env.start('openstackMove', uniqueId('os-move-bad'), {
    fromCloud: 'lab',
    toCloud: 'lab 2',
    server: 'app-1',
    keepName: false,
    requestedBy: 'alice',
  });
  const b = await failureOf(bad);
  assert.equal(b.type, 'InvalidInput');
  assert.match(b.message, /\btoCloud: a cloud name/);
  const r = await env.start('openstackRename', uniqueId('os-rename-bad'), {
    cloud: 'lab',
    server: 'db-1',
    newName: 'DB_2',
    properties: { os: 'LINUX;reboot' },
    requestedBy: 'alice',
  });
  const rf = await failureOf(r);
  assert.equal(rf.type, 'InvalidInput');
  for (const field of ['newName', 'properties.os']) assert.match(rf.message, new RegExp(`\\b${field.replace('.', '\\.')}: `), field);
  // A dry run reads for real and plans the rest: the order is the procedure's, and nothing changes.
  const dry = await env.start('openstackMove', uniqueId('os-move-dry'), {
    fromCloud: 'lab',
    toCloud: 'lab2',
    server: 'app-1',
    keepName: true,
    requestedBy: 'alice',
    dryRun: true,
  });
  const plan = ((await dry.result()) as { plan: { name: string; kind: string }[] }).plan.map((p) => p.name);
  assert.deepEqual(plan.slice(plan.indexOf('stop the server')), [
    'stop the server',
    'snapshot the server',
    'wait for the snapshot to become active',
    'download the snapshot',
    'copy the snapshot',
    'virt-sysprep the copy',
    'check and checksum the copy',
    'upload the image',
    'wait for the image to become active and check its checksum',
    'delete-source',
    'delete the source server',
    'wait for the DNS entry to expire',
    'create the server',
    'wait for the new server',
    'verify the new server',
    'remove the image files',
  ]);
  assert.equal(lab.state.serverNamed('app-1').status, 'ACTIVE', 'a dry run stops nothing');
  assert.equal(noChange(lab), before, 'no server, image or upload was asked for');
  assert.equal(noChange(lab2), 0);
  assert.equal(lab.state.servers().length, 6);
});

let runs: { clone: WorkflowHandle; move: WorkflowHandle; bad: WorkflowHandle; rename: WorkflowHandle };

test('all four start at once (each sysprep is one appliance start)', needsGuestfs, async () => {
  runs = {
    clone: await env.start('openstackClone', uniqueId('os-clone'), {
      cloud: 'lab',
      server: 'web-1',
      newName: 'web-2',
      flavor: 'm2.medium',
      keyName: 'lab-key',
      requestedBy: 'alice',
    }),
    move: await env.start('openstackMove', uniqueId('os-move'), { fromCloud: 'lab', toCloud: 'lab2', server: 'app-1', keepName: true, requestedBy: 'alice' }),
    bad: await env.start('openstackMove', uniqueId('os-move-damaged'), {
      fromCloud: 'lab',
      toCloud: 'lab2',
      server: 'bad-1',
      keepName: false,
      newName: 'bad-2',
      requestedBy: 'alice',
    }),
    rename: await env.start('openstackRename', uniqueId('os-rename'), { cloud: 'lab', server: 'db-1', newName: 'db-2', requestedBy: 'alice' }),
  };
  assert.deepEqual(
    (await Promise.all(Object.values(runs).map((h) => h.describe()))).map((d) => d.status.name),
    ['RUNNING', 'RUNNING', 'RUNNING', 'RUNNING'],
  );
});

test('openstackClone: a new server on a sysprepped copy; the snapshot glance keeps is untouched', needsGuestfs, async () => {
  const end = await settled(runs.clone);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = ((await runs.clone.result()) as { output: { image: ImageView; server: { name: string; status: string; imageId: string; addresses: string[] } } })
    .output;
  await saveHistory(runs.clone, 'openstackClone');
  assert.deepEqual([out.server.name, out.server.status, out.server.imageId], ['web-2', 'ACTIVE', out.image.id]);
  assert.equal(out.server.addresses.length, 1);
  const image = lab.state.imagesNamed('web-2-image')[0]!;
  assert.deepEqual([image.status, image.diskFormat, image.properties.os], ['active', 'qcow2', 'LINUX']);
  const web2 = lab.state.serverNamed('web-2');
  assert.deepEqual([web2.flavor, web2.keyName, web2.imageId], ['m2.medium', 'lab-key', image.id]);
  assert.equal(lab.state.serverNamed('web-1').status, 'ACTIVE', 'the source keeps running');
  assert.ok(!(await historyText(runs.clone)).includes(pw.lab), 'the clouds.yaml password is not in history (payloads decoded)');
});

test('openstackMove with a damaged upload fails at the checksum: the source is never deleted', needsGuestfs, async () => {
  const end = await settled(runs.bad);
  assert.equal(end.status, 'Failed', `${end.lastError}`);
  assert.match(
    (await failureOf(runs.bad)).message,
    /image bad-2-image \([0-9a-f-]+\) in cloud lab2 has sha512 [0-9a-f]{16}…, the copy on cloud-client [0-9a-f]{16}…: the upload is damaged/,
  );
  const src = lab.state.serverNamed('bad-1');
  assert.deepEqual([src.status, src.deletedAt], ['SHUTOFF', undefined]);
  assert.ok(!lab.state.log.includes(`DELETE /compute/v2.1/servers/${src.id}`), 'nova was never asked to delete it');
  assert.ok(
    !(await status(runs.bad)).approvals.length && !(await status(runs.bad)).steps.some((s) => s.name === 'delete the source server'),
    'no gate, no delete step',
  );
  assert.ok(!lab2.state.servers().some((s) => s.name === 'bad-2'), 'no server from a damaged image');
});

test('openstackMove keeping the name: delete only after the target image is active and checksummed, create only after DNS expired', needsGuestfs, async () => {
  const gate = await waitFor('the delete-source gate', async () => (await status(runs.move)).openGate, 600_000);
  assert.equal(gate.name, 'delete-source');
  const src = lab.state.serverNamed('app-1');
  const target = lab2.state.imagesNamed('app-1-image')[0]!;
  assert.equal(target.status, 'active', 'the target image is active before the gate opens');
  const text = gate.plan.join('\n');
  assert.match(text, new RegExp(`DELETE server app-1 \\(${src.id}\\) in cloud lab`));
  assert.match(text, new RegExp(`app-1-image \\(${target.id}\\), active, \\d+ bytes, sha512 ${target.hashValue}`));
  assert.equal(src.status, 'SHUTOFF');
  assert.equal(src.deletedAt, undefined, 'nothing deleted before the approval');
  await runs.move.executeUpdate('approve', { args: [{ gate: 'delete-source', approver: 'bob', reason: 'target image checked' }] });
  const end = await settled(runs.move);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = (
    (await runs.move.result()) as { output: { server: { name: string; status: string; cloud: string }; dns: { lookups: number; hadAddress: string } } }
  ).output;
  await saveHistory(runs.move, 'openstackMove-keep-name');
  assert.deepEqual([out.server.name, out.server.status, out.server.cloud], ['app-1', 'ACTIVE', 'lab2']);
  const gone = lab.state.allServers().find((s) => s.id === src.id)!;
  assert.ok(gone.deletedAt! > target.activeAt!, 'deleted after the target image was active');
  // The DNS wait saw the old address, then NXDOMAIN, and only then was the server created in the target.
  const lookups = dns.queries.filter((q) => q.name === 'app-1');
  assert.equal(out.dns.hadAddress, src.address);
  assert.ok(
    lookups.some((q) => q.address === src.address && q.at > gone.deletedAt!),
    'still resolved after the delete',
  );
  const created = lab2.state.serverNamed('app-1');
  assert.ok(created.createdAt > lookups.filter((q) => !q.address).at(-1)!.at, 'created after the name stopped resolving');
  assert.equal(created.imageId, target.id);
  const history = await historyText(runs.move);
  assert.ok(!history.includes(pw.lab) && !history.includes(pw.lab2), 'neither clouds.yaml password is in history (payloads decoded)');
});

test('openstackRename: the new hostname is in the guest; the old server goes after the new one is verified', needsGuestfs, async () => {
  const gate = await waitFor('the delete-source gate', async () => (await status(runs.rename)).openGate, 600_000);
  assert.equal(gate.name, 'delete-source');
  assert.equal(lab.state.serverNamed('db-2').status, 'ACTIVE', 'the renamed server runs before the old one goes');
  await runs.rename.executeUpdate('approve', { args: [{ gate: 'delete-source', approver: 'carol', reason: 'db-2 is fine' }] });
  const end = await settled(runs.rename);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  await saveHistory(runs.rename, 'openstackRename');
  assert.ok(!lab.state.servers().some((s) => s.name === 'db-1'), 'db-1 deleted');
  assert.equal(lab.state.serverNamed('db-2').flavor, 'm2.small', "the old server's flavor");
});

test('virt-sysprep really cleaned the copies, never the snapshots (read back with guestfish)', needsGuestfs, async () => {
  const files = ['/etc/machine-id', '/etc/ssh/ssh_host_ed25519_key', '/etc/krb5.keytab', '/etc/hostname'];
  const [original, clone, moved, renamed] = await guestFiles(
    [fileOf(lab, 'web-2-snapshot'), fileOf(lab, 'web-2-image'), fileOf(lab2, 'app-1-image'), fileOf(lab, 'db-2-image')],
    files,
  );
  // The snapshot glance keeps is the server's disk as it was.
  assert.deepEqual(original, {
    '/etc/machine-id': machineId,
    '/etc/ssh/ssh_host_ed25519_key': 'lab guest host key (stand-in)',
    '/etc/krb5.keytab': 'lab guest keytab (stand-in)',
    '/etc/hostname': 'lab-guest',
  });
  // Clone: virt-sysprep's defaults; machine-id emptied, then customize writes a fresh random one.
  assert.notEqual(clone!['/etc/machine-id'], machineId, 'machine id not the original');
  assert.deepEqual([clone!['/etc/ssh/ssh_host_ed25519_key'], clone!['/etc/krb5.keytab']], [null, null], 'host key and keytab gone');
  // Move: the limited set keeps the identity, but the site's --delete paths go (customize enabled).
  assert.deepEqual(
    [moved!['/etc/machine-id'], moved!['/etc/krb5.keytab'], moved!['/etc/ssh/ssh_host_ed25519_key']],
    [machineId, null, 'lab guest host key (stand-in)'],
  );
  // Rename: the new hostname.
  assert.equal(renamed!['/etc/hostname'], 'db-2');
});

/** An activity context outside a worker; its expected failures are not logged as warnings. */
const mock = (): MockActivityEnvironment => new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });

test('retried downloads, uploads and creates reuse what their own run made: one image, one server per name', needsGuestfs, async () => {
  const config = { ...env.config, openstack };
  const ssh = new SshPool(env.inventory);
  const api = makeCloudApi(config);
  const files = makeOpenstackImageFileActivities(ssh, api, config);
  const servers = makeOpenstackServerActivities(api, config);
  const wf = uniqueId('os-retry');
  const path = `${openstack.imageDir}/${wf}/snapshot.qcow2`;
  try {
    // Onto the real cloud-client, checked against glance's hashes.
    const snap = lab.state.imagesNamed('web-2-snapshot')[0]!;
    const got = (await mock().run(files.openstackDownloadImage, { cloud: 'lab', imageId: snap.id, host: 'cloud-client', path })) as {
      md5: string;
      sha512: string;
      bytes: number;
    };
    assert.deepEqual([got.md5, got.sha512, got.bytes], [snap.checksum, snap.hashValue, snap.size]);
    type Upload = { reused: boolean; image: ImageView; sent?: { sha512: string } };
    const upload = (workflowId: string) =>
      mock().run(files.openstackUploadImage, {
        cloud: 'lab',
        host: 'cloud-client',
        path,
        name: 'retry-image',
        properties: { os: 'LINUX' },
        workflowId,
      }) as Promise<Upload>;
    const first = await upload(wf);
    assert.deepEqual([first.reused, first.sent?.sha512], [false, snap.hashValue]);
    const image = await waitFor('the upload to become active', async () => lab.state.imagesNamed('retry-image').find((i) => i.status === 'active'));
    const again = await upload(wf);
    assert.deepEqual([again.reused, again.image.id], [true, image.id]);
    await assert.rejects(upload('someone-else'), /cloud "lab" already has an image named retry-image/);
    // A file missing on the host is refused before glance gets an image record.
    const missing = mock().run(files.openstackUploadImage, {
      cloud: 'lab',
      host: 'cloud-client',
      path: `${path}.missing`,
      name: 'retry-missing',
      properties: {},
      workflowId: wf,
    });
    await assert.rejects(missing, /cloud-client: no readable file .*snapshot\.qcow2\.missing/);
    assert.equal(lab.state.imagesNamed('retry-missing').length, 0);
    assert.equal(lab.state.imagesNamed('retry-image').length, 1, 'one image of that name');

    type Created = { reused: boolean; server: { id: string } };
    const create = (workflowId: string, over: Record<string, string> = {}) =>
      mock().run(servers.openstackCreateServer, {
        cloud: 'lab',
        name: 'retry-1',
        imageId: image.id,
        flavor: 'm2.small',
        keyName: 'lab-key',
        workflowId,
        ...over,
      }) as Promise<Created>;
    const s1 = await create(wf);
    const s2 = await create(wf);
    assert.deepEqual([s1.reused, s2.reused, s2.server.id], [false, true, s1.server.id]);
    await assert.rejects(create('someone-else'), /cloud "lab" already has a server named retry-1/);
    await assert.rejects(create(wf, { name: 'retry-2', keyName: 'nobody-key' }), /cloud "lab" has no key pair nobody-key/);
    await assert.rejects(create(wf, { name: 'retry-2', flavor: 'm9.huge' }), /cloud "lab" has no flavor m9\.huge \(it has: m2\.small, m2\.medium\)/);
    assert.deepEqual(
      lab.state
        .servers()
        .filter((s) => s.name.startsWith('retry-'))
        .map((s) => s.name),
      ['retry-1'],
    );
  } finally {
    ssh.closeAll();
    rmSync(join(openstack.imageDir, wf), { recursive: true, force: true });
  }
});

test('the DNS wait parks when the name still resolves at its bound, and ends at once for a name that never existed', async () => {
  const acts = makeOpenstackDnsActivities({
    ...env.config,
    openstack: { ...openstack, dns: { servers: [dns.server], domain: null, timeoutSeconds: 1, pollSeconds: 0.2 } },
  });
  await assert.rejects(mock().run(acts.openstackWaitDnsGone, { name: 'web-1' }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.deepEqual([err.type, err.nonRetryable], ['CloudTimeout', true]);
    assert.match(err.message, /^web-1 still resolves to 10\.0\.0\.\d+ after 1 s \(openstack\.dns\.timeoutSeconds\): retry to wait again, or abort$/);
    return true;
  });
  const gone = (await mock().run(acts.openstackWaitDnsGone, { name: 'never-existed' })) as { lookups: number; hadAddress: string | null };
  assert.deepEqual([gone.lookups, gone.hadAddress], [1, null]);
});
