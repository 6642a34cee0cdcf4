// openstackSnapshot and openstackRollback against the CLOUD SIMULATOR (scripts/lab/cloud-sim.ts): no
// OpenStack cloud can run here, so this is the one test double of the suite. What it proves:
// - a snapshot is one image, active, with the checksum of a real qcow2 file; the clouds.yaml password never
//   reaches history; a clock resync reaches the guest over real SSH;
// - a name already taken is refused and never gets a second image (also when the create step is retried);
// - a `killed` image fails the run at once, well within the wait's bound (the client's --wait would hang);
// - volume-backed servers and bad names are refused, naming what is wrong;
// - a rollback waits at its gate with the server, image and state in the plan, rebuilds keeping ID and
//   address, and ends ACTIVE, or SHUTOFF for a server that was off; a dry run changes nothing;
// - a rebuild stuck in REBUILD parks with a clear message after the bound; a second rollback of that server
//   is refused (transitional state).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { makeOpenstackActivities } from '../activities/openstack/images.js';
import { startCloudSim, type CloudSim } from '../scripts/lab/cloud-sim.js';
import { WorkerConfigSchema } from '../workers/config.js';
import type { ImageView } from '../workflows/openstack/rules.js';
import { failureOf, historyText, type RunningWorker, scratchDir, status, testEnv, type TestEnv, uniqueId, waitFor } from './harness.js';
import { saveHistory } from './history-files.js';

let env: TestEnv;
let sim: CloudSim;
let worker: RunningWorker;
let cloudsYaml = '';
const password = `pw-${randomBytes(12).toString('hex')}`;
const openstack = WorkerConfigSchema.shape.openstack.parse({ cloudsYaml: '', pollSeconds: 0.2, imageTimeoutSeconds: 20, serverTimeoutSeconds: 4 });
/** The snapshot the first test makes; the rollback tests rebuild from it. */
let snapshot: { id: string; workflowId: string } | undefined;

before(async () => {
  env = await testEnv();
  const dir = scratchDir('openstack');
  sim = await startCloudSim({
    dataDir: join(dir, 'images'),
    user: { name: 'rbops', password, project: 'lab-project' },
    servers: [
      { name: 'web-1' },
      { name: 'web-off', status: 'SHUTOFF' },
      { name: 'web-stuck' },
      { name: 'db-volume', volumeBacked: true },
      // Named like a lab host, so the clock resync reaches a real sshd.
      { name: 'cloud-client' },
    ],
    faults: { killImages: ['snap-killed'], stuckRebuild: ['web-stuck'] },
  });
  cloudsYaml = join(dir, 'clouds.yaml');
  writeFileSync(cloudsYaml, cloudsYamlText(sim.authUrl, password), { mode: 0o600 });
  openstack.cloudsYaml = cloudsYaml;
  worker = await env.startWorker({ config: { openstack } });
});
afterEach(async () => env?.endRuns());
after(async () => {
  await worker?.stop();
  await env?.close();
  await sim?.close();
});

/** A standard clouds.yaml entry "lab" for Keystone v3 password auth. */
function cloudsYamlText(authUrl: string, pw: string): string {
  return [
    'clouds:',
    '  lab:',
    '    auth:',
    `      auth_url: ${authUrl}`,
    '      username: rbops',
    `      password: "${pw}"`,
    '      project_name: lab-project',
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    '    region_name: RegionOne',
    '    identity_api_version: 3',
    '',
  ].join('\n');
}

/** An activity context outside a worker; its expected failures are not logged as warnings. */
function mockActivity(): MockActivityEnvironment {
  return new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
}

function settled(h: WorkflowHandle, timeoutMs = 60_000) {
  return waitFor(
    'the run to finish, fail or park',
    async () => {
      const v = await status(h);
      return ['Completed', 'Parked', 'Failed', 'Aborted'].includes(v.status) && v;
    },
    timeoutMs,
  );
}

async function assertNoPassword(h: WorkflowHandle): Promise<void> {
  assert.ok(!(await historyText(h)).includes(password), 'the clouds.yaml password is not in history');
}

const actions = (): number => sim.state.log.filter((l) => /^POST \/compute\/v2\.1\/servers\/[^/]+\/action$/.test(l)).length;

test('openstackSnapshot makes one active image with a real qcow2 and its checksums; the password stays out of history', async () => {
  const workflowId = uniqueId('os-snap');
  const h = await env.start('openstackSnapshot', workflowId, { cloud: 'lab', server: 'web-1', name: 'web-1-ref', requestedBy: 'alice', resyncClock: false });
  const end = await settled(h);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = ((await h.result()) as { output: { image: ImageView; reused: boolean; server: { name: string } } }).output;
  await saveHistory(h, 'openstackSnapshot');
  assert.equal(out.image.status, 'active');
  assert.equal(out.reused, false);
  assert.equal(out.server.name, 'web-1');

  const images = sim.state.imagesNamed('web-1-ref');
  assert.equal(images.length, 1, 'exactly one image');
  const image = images[0]!;
  assert.equal(image.id, out.image.id);
  assert.equal(image.properties.runbook_workflow_id, workflowId, 'the image names the run that made it');
  // The file glance holds, checked independently of the runbook: a real qcow2, hashes as reported.
  const bytes = readFileSync(image.file!);
  assert.equal(out.image.hashAlgo, 'sha512');
  assert.equal(out.image.hashValue, createHash('sha512').update(bytes).digest('hex'));
  assert.equal(out.image.checksum, createHash('md5').update(bytes).digest('hex'));
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image.file!], { encoding: 'utf8' })) as { format: string };
  assert.equal(info.format, 'qcow2');
  assert.equal(out.image.diskFormat, 'qcow2');
  assert.equal(sim.state.serverNamed('web-1').taskState, null, 'the server is idle again');
  await assertNoPassword(h);
  snapshot = { id: image.id, workflowId };
});

test('a snapshot name already taken is refused, and a retried create reuses its own image: never a second one', async () => {
  assert.ok(snapshot, 'the first test made a snapshot');
  const before = actions();
  const h = await env.start('openstackSnapshot', uniqueId('os-snap-dup'), {
    cloud: 'lab',
    server: 'web-1',
    name: 'web-1-ref',
    requestedBy: 'alice',
    resyncClock: false,
  });
  assert.equal((await settled(h)).status, 'Failed');
  const { message } = await failureOf(h);
  assert.match(message, new RegExp(`an image named web-1-ref already exists \\(${snapshot.id}, active, made by run ${snapshot.workflowId}\\)`));
  assert.equal(actions(), before, 'nova was asked for nothing');

  // The create activity on its own, as a retry after a lost answer would call it: the same run gets its
  // image back, another run is refused; glance still holds one image of that name.
  const acts = makeOpenstackActivities({ ...env.config, openstack: { ...openstack } });
  const server = sim.state.serverNamed('web-1').id;
  const again = (await mockActivity().run(acts.openstackCreateImage, {
    cloud: 'lab',
    serverId: server,
    name: 'web-1-ref',
    workflowId: snapshot.workflowId,
  })) as {
    reused: boolean;
    image: ImageView;
  };
  assert.deepEqual([again.reused, again.image.id], [true, snapshot.id]);
  await assert.rejects(
    mockActivity().run(acts.openstackCreateImage, { cloud: 'lab', serverId: server, name: 'web-1-ref', workflowId: 'someone-else' }),
    /already exists/,
  );
  assert.equal(sim.state.imagesNamed('web-1-ref').length, 1);
  assert.equal(actions(), before);
});

test('a killed image fails openstackSnapshot at once, well within its bound', async () => {
  const t0 = Date.now();
  const h = await env.start('openstackSnapshot', uniqueId('os-snap-killed'), {
    cloud: 'lab',
    server: 'web-1',
    name: 'snap-killed',
    requestedBy: 'alice',
    resyncClock: false,
  });
  const end = await settled(h, 30_000);
  const took = Date.now() - t0;
  assert.equal(end.status, 'Failed', 'failed, not parked: nobody can retry a killed image into an active one');
  const { message } = await failureOf(h);
  assert.match(message, /image snap-killed \([0-9a-f-]+\) ended killed: the snapshot failed and will never become active/);
  assert.ok(took < openstack.imageTimeoutSeconds * 1000, `failed after ${took} ms, before the ${openstack.imageTimeoutSeconds} s bound`);
  assert.deepEqual(
    sim.state.imagesNamed('snap-killed').map((i) => i.status),
    ['killed'],
  );
});

test('volume-backed servers are refused by both runbooks before anything changes', async () => {
  const before = actions();
  const snap = await env.start('openstackSnapshot', uniqueId('os-snap-vol'), {
    cloud: 'lab',
    server: 'db-volume',
    name: 'db-ref',
    requestedBy: 'alice',
    resyncClock: false,
  });
  assert.equal((await settled(snap)).status, 'Failed');
  assert.match(
    (await failureOf(snap)).message,
    /server db-volume \([0-9a-f-]+\) boots from a Cinder volume \(no image\): the volume snapshot path is not built/,
  );
  const roll = await env.start('openstackRollback', uniqueId('os-roll-vol'), { cloud: 'lab', server: 'db-volume', image: 'web-1-ref', requestedBy: 'alice' });
  assert.equal((await settled(roll)).status, 'Failed');
  assert.match((await failureOf(roll)).message, /boots from a Cinder volume .*--reimage-boot-volume/);
  assert.equal(actions(), before);
  assert.equal(sim.state.imagesNamed('db-ref').length, 0);
});

test('bad names are refused naming each field; nothing reaches the cloud', async () => {
  const calls = sim.state.log.length;
  const snap = await env.start('openstackSnapshot', uniqueId('os-snap-bad'), {
    cloud: 'lab cloud',
    server: 'web-1;reboot',
    name: '',
    requestedBy: 'alice',
    resyncClock: 'yes',
  });
  const s = await failureOf(snap);
  assert.equal(s.type, 'InvalidInput');
  for (const field of ['cloud', 'server', 'name', 'resyncClock']) assert.match(s.message, new RegExp(`\\b${field}: `), field);
  const roll = await env.start('openstackRollback', uniqueId('os-roll-bad'), { cloud: 'lab', server: 'web-1', image: '../etc/passwd', requestedBy: 'alice' });
  const r = await failureOf(roll);
  assert.equal(r.type, 'InvalidInput');
  assert.match(r.message, /\bimage: an image name or ID/);
  assert.doesNotMatch(r.message, /\bserver: /);
  assert.equal(sim.state.log.length, calls, 'the simulator saw no request');
});

test('openstackRollback: dry run changes nothing; the gate shows server, image and state; rebuild keeps ID and address', async () => {
  assert.ok(snapshot, 'the first test made a snapshot');
  const web1 = sim.state.serverNamed('web-1');
  const { id, address } = web1;

  const dry = await env.start('openstackRollback', uniqueId('os-roll-dry'), {
    cloud: 'lab',
    server: 'web-1',
    image: 'web-1-ref',
    requestedBy: 'alice',
    dryRun: true,
  });
  const plan = (await dry.result()) as { status: string; plan: { name: string; kind: string; effect?: string }[] };
  assert.equal(plan.status, 'Completed');
  assert.deepEqual(
    plan.plan.map((p) => p.name),
    ['read the server', 'read the image', 'rebuild', 'rebuild the server', 'wait for the server'],
  );
  assert.equal(web1.rebuilds, 0, 'a dry run rebuilds nothing');

  const h = await env.start('openstackRollback', uniqueId('os-roll'), { cloud: 'lab', server: 'web-1', image: 'web-1-ref', requestedBy: 'alice' });
  const open = await waitFor('the rebuild gate', async () => {
    const v = await status(h);
    return v.openGate?.name === 'rebuild' && v.openGate;
  });
  const text = open.plan.join('\n');
  assert.match(text, new RegExp(`server web-1 \\(${id}\\), now ACTIVE, addresses ${address.replace(/\./g, '\\.')}`));
  assert.match(text, new RegExp(`rebuild from image web-1-ref \\(${snapshot.id}\\), active, qcow2 \\d+ bytes, sha512 [0-9a-f]{128}`));
  assert.match(text, /root disk is WIPED/);
  assert.match(text, /then wait for ACTIVE/);
  assert.equal(web1.rebuilds, 0, 'nothing before the approval');
  await h.executeUpdate('approve', { args: [{ gate: 'rebuild', approver: 'bob', reason: 'back to the reference' }] });
  const end = await settled(h);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = ((await h.result()) as { output: { server: { id: string; status: string; addresses: string[] } } }).output;
  await saveHistory(h, 'openstackRollback-approved');
  assert.deepEqual(out.server, { id, name: 'web-1', status: 'ACTIVE', addresses: [address] });
  assert.deepEqual([web1.imageId, web1.rebuilds, web1.status], [snapshot.id, 1, 'ACTIVE']);
  await assertNoPassword(h);

  // A server that was off comes back off (osc's --wait rule), rebuilt from the image.
  const off = await env.start('openstackRollback', uniqueId('os-roll-off'), { cloud: 'lab', server: 'web-off', image: snapshot.id, requestedBy: 'alice' });
  await waitFor('the rebuild gate', async () => (await status(off)).openGate?.plan.some((l) => /now SHUTOFF/.test(l)));
  await off.executeUpdate('approve', { args: [{ gate: 'rebuild', approver: 'carol', reason: 'reference' }] });
  assert.equal((await settled(off)).status, 'Completed');
  const webOff = sim.state.serverNamed('web-off');
  assert.deepEqual([webOff.status, webOff.imageId, webOff.rebuilds], ['SHUTOFF', snapshot.id, 1]);
});

test('a rebuild stuck in REBUILD parks after its bound with a clear message; a second rollback is refused', async () => {
  const h = await env.start('openstackRollback', uniqueId('os-roll-stuck'), { cloud: 'lab', server: 'web-stuck', image: 'web-1-ref', requestedBy: 'alice' });
  await waitFor('the rebuild gate', async () => (await status(h)).openGate?.name === 'rebuild');
  await h.executeUpdate('approve', { args: [{ gate: 'rebuild', approver: 'bob', reason: 'test' }] });
  const t0 = Date.now();
  const parked = await settled(h, 30_000);
  assert.equal(parked.status, 'Parked');
  assert.equal(parked.parked?.step, 'wait for the server');
  assert.match(parked.parked!.error, /server web-stuck is still REBUILD \(task rebuilding\) after 4 s \(openstack\.serverTimeoutSeconds\)/);
  await saveHistory(h, 'openstackRollback-stuck-parked');
  assert.ok(Date.now() - t0 < 20_000, 'parked within the bound, no hang');
  await h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'look at the hypervisor' }] });
  assert.equal((await failureOf(h)).type, 'Aborted');

  const again = await env.start('openstackRollback', uniqueId('os-roll-busy'), { cloud: 'lab', server: 'web-stuck', image: 'web-1-ref', requestedBy: 'alice' });
  assert.equal((await settled(again)).status, 'Failed');
  assert.match((await failureOf(again)).message, /server web-stuck is in a transitional state \(status REBUILD, task rebuilding\): a rebuild is refused/);
  assert.equal(sim.state.serverNamed('web-stuck').rebuilds, 1, 'one rebuild asked for, not two');
});

test('by default the guest clock is stepped over SSH after the snapshot (or the guest says it has no NTP client)', async () => {
  // No resyncClock in the input: the CERN page's advice is the default.
  const h = await env.start('openstackSnapshot', uniqueId('os-snap-clock'), {
    cloud: 'lab',
    server: 'cloud-client',
    name: 'cloud-client-ref',
    requestedBy: 'alice',
  });
  const end = await settled(h);
  assert.equal(end.status, 'Completed', `${end.lastError}`);
  const out = ((await h.result()) as { output: { clock: string } }).output;
  // The lab hosts have neither chrony nor systemd: the real answer of the real host is that it has none.
  assert.match(out.clock, /clock stepped|timesyncd restarted|no NTP client \(chronyc, systemd-timesyncd\) on cloud-client: clock not resynced/);
});

test('Windows VMs (image os_type, server landb-os, image name) are refused by move, rename and a clone without landb-os, before anything changes', async () => {
  // As a Windows image is registered at CERN: glance's os_type, or LanDB's property on the server.
  const winImage = sim.state.addImage({ name: 'Windows Server 2022 - x86_64', status: 'active', properties: { os_type: 'windows' } });
  const plainImage = sim.state.addImage({ name: 'base-2024', status: 'active' });
  sim.state.addServer('win-1', 'ACTIVE', winImage.id);
  sim.state.addServer('win-meta', 'ACTIVE', plainImage.id, { metadata: { 'landb-os': 'WINDOWS' } });
  const calls = sim.state.log.length;
  const before = actions();
  const images = sim.state.images().length;
  const servers = sim.state.servers().length;
  const move = await env.start('openstackMove', uniqueId('os-move-win'), {
    fromCloud: 'lab',
    toCloud: 'lab',
    server: 'win-1',
    keepName: false,
    newName: 'win-2',
    requestedBy: 'alice',
  });
  const rename = await env.start('openstackRename', uniqueId('os-rename-win'), { cloud: 'lab', server: 'win-meta', newName: 'win-3', requestedBy: 'alice' });
  const clone = await env.start('openstackClone', uniqueId('os-clone-win'), {
    cloud: 'lab',
    server: 'win-1',
    newName: 'win-4',
    flavor: 'm2.small',
    keyName: 'lab-key',
    requestedBy: 'alice',
  });
  for (const h of [move, rename, clone]) assert.equal((await settled(h)).status, 'Failed');
  assert.match(
    (await failureOf(move)).message,
    /server win-1 \([0-9a-f-]+\) looks like a Windows VM \(image os_type=windows, image name=Windows Server 2022 - x86_64\): the CERN page's move procedure is for Linux VMs only; for a Windows VM open a request ticket via SNOW/,
  );
  assert.match(
    (await failureOf(rename)).message,
    /server win-meta .*Windows VM \(server landb-os=WINDOWS\): the CERN page's rename procedure is for Linux VMs only/,
  );
  assert.match(
    (await failureOf(clone)).message,
    /Windows VM .*must carry landb-os=WINDOWS .*give properties \{"landb-os": "WINDOWS"\} instead of the default os=LINUX/,
  );
  assert.equal(actions(), before, 'nova was asked for nothing');
  assert.equal(sim.state.images().length, images, 'no image made');
  assert.equal(sim.state.servers().length, servers, 'no server made');
  assert.ok(
    sim.state.log.slice(calls).every((l) => l.startsWith('GET ') || l === 'POST /v3/auth/tokens'),
    `only reads: ${sim.state.log.slice(calls).join(', ')}`,
  );
});

test('the simulator behaves like nova where the runbooks depend on it: 409 on stopping a stopped server', async () => {
  const auth = await fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'rbops', domain: { name: 'Default' }, password } } },
        scope: { project: { name: 'lab-project', domain: { name: 'Default' } } },
      },
    }),
  });
  assert.equal(auth.status, 201);
  const token = auth.headers.get('x-subject-token')!;
  const wrong = await fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    body: JSON.stringify({ auth: { identity: { password: { user: { name: 'rbops', password: 'nope' } } } } }),
  });
  assert.equal(wrong.status, 401);
  const id = sim.state.serverNamed('web-off').id;
  const stop = await fetch(`${sim.authUrl.replace(/\/v3$/, '')}/compute/v2.1/servers/${id}/action`, {
    method: 'POST',
    headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ 'os-stop': null }),
  });
  assert.equal(stop.status, 409);
  assert.match(
    ((await stop.json()) as { conflictingRequest: { message: string } }).conflictingRequest.message,
    /Cannot 'stop' instance .* while it is in vm_state stopped/,
  );
});

test('clouds.yaml problems are named by file and field, never with their values; refused credentials fail at once', async () => {
  const file = join(scratchDir('openstack-clouds'), 'clouds.yaml');
  const acts = makeOpenstackActivities({ ...env.config, openstack: { ...openstack, cloudsYaml: file } });
  const read = () => mockActivity().run(acts.openstackServer, { cloud: 'lab', server: 'web-1' });
  const refused = (why: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'InvalidConfig', 'fails the run at once: no retry fixes a worker config');
    assert.match(err.message, why);
    assert.ok(!err.message.includes(password), 'no credential in the message');
    return true;
  };
  await assert.rejects(read(), refused(/no clouds\.yaml on this worker \(tried .*clouds\.yaml/));
  writeFileSync(file, cloudsYamlText('not-a-url', password).replace('      project_name: lab-project\n', ''), { mode: 0o600 });
  await assert.rejects(read(), refused(/clouds\.yaml: cloud "lab": bad or missing auth\.auth_url/));
  await assert.rejects(mockActivity().run(acts.openstackServer, { cloud: 'prod', server: 'web-1' }), refused(/no cloud "prod" \(it has: lab\)/));
  writeFileSync(file, cloudsYamlText(sim.authUrl, `${password}-old`), { mode: 0o600 });
  await assert.rejects(read(), refused(/cloud "lab": Keystone refused the credentials of clouds\.yaml \(401\)/));
  // Rotated in place: the next call reads the file again and gets through, no worker restart.
  writeFileSync(file, cloudsYamlText(sim.authUrl, password), { mode: 0o600 });
  assert.equal(((await read()) as { name: string }).name, 'web-1');
});

test('stopping a server waits for SHUTOFF; a stopped one is reported, never a 409 failure', async () => {
  const acts = makeOpenstackActivities({ ...env.config, openstack: { ...openstack } });
  const stop = (name: string) =>
    mockActivity().run(acts.openstackStopServer, { cloud: 'lab', serverId: sim.state.serverNamed(name).id }) as Promise<{
      alreadyStopped: boolean;
      server: { status: string };
    }>;
  const before = actions();
  const off = await stop('web-off');
  assert.deepEqual([off.alreadyStopped, off.server.status], [true, 'SHUTOFF']);
  assert.equal(actions(), before, 'nova was not asked to stop a stopped server');
  const on = await stop('cloud-client');
  assert.deepEqual([on.alreadyStopped, on.server.status], [false, 'SHUTOFF']);
  assert.equal(sim.state.serverNamed('cloud-client').status, 'SHUTOFF');
  assert.equal((await stop('cloud-client')).alreadyStopped, true);
  assert.equal(actions(), before + 1, 'one os-stop in all');
});
