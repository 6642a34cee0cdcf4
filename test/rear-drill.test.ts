// rearRecoveryDrill on the lab's real libvirtd: real QEMU guests under TCG, real virsh and qemu-img on the
// hypervisor host over SSH, a signed backup record and a stand-in unattended rescue ISO on the real
// backup-store (the real `rear recover` into a copy is the heavy test). The stand-in prints ReaR's result
// line but restores nothing, so the copy's disk stays empty and its first boot never reaches a login
// prompt: the run parks there, which is where this test looks at the copy, then aborts it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { domainFacts, normaliseDomainXml } from '../activities/libvirt/libvirt-xml.js';
import { LAB_DOMAINS, libvirtUp, resetLabDomain, type LibvirtLayout } from '../scripts/lab/libvirt.js';
import type { LabOptions } from '../scripts/lab/layout.js';
import { runFile } from '../workflows/rear/recovery-checks.js';
import { failureOf, historyText, onHost, scratchDir, status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';
import { placeBackup, standInRescueIso } from './stand-in-rescue-iso.js';
import { saveHistory } from './history-files.js';

let env: TestEnv;
let worker: RunningWorker;
let lv: LibvirtLayout;
const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB ?? '{}') as LabOptions;
const suffix = Math.random().toString(36).slice(2, 8);
const storeBase = `/srv/runbooks-drill-${suffix}`;
const storeUser = `rbk${suffix}`;
const storeKeys = `${storeBase}/home/.ssh/authorized_keys`;
const Q35 = LAB_DOMAINS[0]!;
const COPY = 'controller-0-drill';
const hyp = (script: string): string => onHost(env.inventory, 'hypervisor', script);
const drillLines = (): string[] =>
  onHost(env.inventory, 'backup-store', `sudo -n cat ${storeKeys} 2>/dev/null; true`)
    .split('\n')
    .filter((l) => / runbooks-drill:/.test(l));
const exists = (domain: string): boolean => hyp(`virsh domstate ${domain} >/dev/null 2>&1 && echo yes || echo no`).trim() === 'yes';
const file = (h: WorkflowHandle, suffix: string): string => runFile(lv.images, COPY, h.workflowId, suffix);

const UNATTENDED_CONSOLE = "Launching 'rear recover' automatically in unattended mode\n\n'rear recover' finished successfully\n\nRebooting in 30 seconds\n";

before(async () => {
  env = await testEnv();
  lv = await libvirtUp(lab);
  worker = await env.startWorker({ config: { libvirt: { uri: null, sudo: false, isoDir: lv.images } } });
  // A copy left by an earlier, interrupted run of this file (the lab's libvirtd outlives the suite).
  hyp(`virsh destroy ${COPY} >/dev/null 2>&1; virsh undefine ${COPY} >/dev/null 2>&1; true`);
  onHost(env.inventory, 'backup-store', `sudo -n useradd --system --home-dir ${storeBase}/home --shell /usr/sbin/nologin ${storeUser}`);
  const scratch = scratchDir('rear-drill-iso');
  for (const d of ['unattended', 'manual']) mkdirSync(join(scratch, d));
  placeBackup(env, `${storeBase}/unattended`, 'controller-0', standInRescueIso(join(scratch, 'unattended'), 'controller-0', UNATTENDED_CONSOLE), {
    unattended: true,
  });
  placeBackup(env, `${storeBase}/manual`, 'controller-0', standInRescueIso(join(scratch, 'manual'), 'controller-0', 'Run "rear recover"\n'), {
    unattended: false,
  });
});
afterEach(async () => env?.endRuns());
after(async () => {
  onHost(env.inventory, 'backup-store', `sudo -n userdel ${storeUser} 2>/dev/null; sudo -n groupdel ${storeUser} 2>/dev/null; true`);
  rmSync(storeBase, { recursive: true, force: true });
  await resetLabDomain(lab.dir, Q35).catch(() => undefined);
  await worker?.stop();
  await env?.close();
});

const input = (over: Record<string, unknown> = {}) => ({
  hypervisor: 'hypervisor',
  domain: 'controller-0',
  store: 'backup-store',
  storePath: `${storeBase}/unattended`,
  user: storeUser,
  recoverTimeoutSeconds: 120,
  bootTimeoutSeconds: 30,
  stopTimeoutSeconds: 5,
  requestedBy: 'alice',
  ...over,
});

test('a drill copies the domain (never touching it), recovers into the copy, watches its first boot, and its abort removes the copy, its disks and its store key', async () => {
  await resetLabDomain(lab.dir, Q35);
  hyp('virsh start controller-0');
  const before = hyp('virsh dumpxml --inactive --security-info controller-0');
  const h = await env.start('rearRecoveryDrill', uniqueId('rear-drill'), input());
  const parked = await waitFor(
    'the drill parked at its first boot',
    async () => {
      const s = await status(h);
      if (['Completed', 'Failed', 'Aborted'].includes(s.status)) return s;
      return s.status === 'Parked' && s;
    },
    240_000,
  );
  assert.equal(parked.parked?.step, 'watch the first boot', `${parked.status}: ${parked.parked?.step ?? ''} ${parked.parked?.error ?? parked.lastError ?? ''}`);
  assert.match(parked.parked?.error ?? '', /no login prompt after 30s/, 'an empty disk boots nothing: the stand-in restored nothing');
  const steps = parked.steps.map((s) => `${s.name}:${s.state}`);
  for (const s of ['watch the recovery', 'stop the rescue system', 'take the drill key off the store', 'define the copy (from disk)'])
    assert.ok(steps.includes(`${s}:ok`), `${s}: ${steps.join(', ')}`);

  // The copy: its own machine, from its own new disk, which the rescue ISO booted first.
  const copy = domainFacts(hyp(`virsh dumpxml --inactive ${COPY}`));
  const orig = domainFacts(before);
  assert.notEqual(copy.uuid, orig.uuid);
  assert.equal(copy.firstBoot, 'hd', 'the from-disk definition is back on the copy');
  assert.deepEqual(copy.cdroms, []);
  const disk = `${file(h, 'copy')}.vda.qcow2`;
  assert.match(hyp(`virsh domblklist ${COPY}`), new RegExp(disk.replace(/[.]/g, '\\.')));
  assert.equal(
    hyp(`qemu-img info -U --output=json ${disk} | grep -o '"virtual-size": [0-9]*'`).trim(),
    hyp(`qemu-img info -U --output=json ${lv.images}/controller-0.qcow2 | grep -o '"virtual-size": [0-9]*'`).trim(),
    "the copy's disk is as large as the original's",
  );
  const serial = readFileSync(`${file(h, 'copy')}.serial.log`, 'utf8');
  assert.match(serial, /RESCUE controller-0/, 'the copy booted the rescue ISO');
  assert.match(serial, /'rear recover' finished successfully/);
  assert.equal(hyp(`virsh domstate ${COPY}`).trim(), 'running', 'the copy runs from its disk');
  // The original: running as before, its definition byte for byte, its disk its own.
  assert.equal(hyp('virsh domstate controller-0').trim(), 'running');
  assert.equal(normaliseDomainXml(hyp('virsh dumpxml --inactive --security-info controller-0')), normaliseDomainXml(before), 'the original is untouched');
  assert.deepEqual(drillLines(), [], 'the drill key is off the store once the rescue system stopped');
  assert.ok(!existsSync(file(h, 'key.iso')), 'and its drive off the hypervisor');

  await h.executeUpdate('decide', { args: [{ decision: 'abort', operator: 'bob', reason: 'test: the stand-in restores nothing' }] });
  assert.equal((await failureOf(h)).type, 'Aborted');
  assert.ok(!exists(COPY), 'the abort removed the copy');
  for (const f of [disk, file(h, 'iso'), file(h, 'xml'), file(h, 'rescue.xml'), `${file(h, 'copy')}.serial.log`]) assert.ok(!existsSync(f), `${f} removed`);
  assert.equal(hyp('virsh domstate controller-0').trim(), 'running', 'and left the original running');
  assert.doesNotMatch(await historyText(h), /PRIVATE KEY/);
  await saveHistory(h, 'rearRecoveryDrill-parked-abort');
});

test("refused before anything is made: a manual-only ISO, a copy name that is taken by another domain, the original's own name", async () => {
  await resetLabDomain(lab.dir, Q35);
  const manual = await env.start('rearRecoveryDrill', uniqueId('rear-drill-manual'), input({ storePath: `${storeBase}/manual` }));
  assert.match((await failureOf(manual)).message, /built for manual recovery: a drill needs one that runs rear recover by itself/);

  const taken = await env.start('rearRecoveryDrill', uniqueId('rear-drill-taken'), input({ name: 'controller-0-i440fx' }));
  assert.match((await failureOf(taken)).message, /name: a domain named controller-0-i440fx exists on hypervisor and is not this drill's/);
  assert.ok(!existsSync(runFile(lv.images, 'controller-0-i440fx', taken.workflowId, 'iso')), 'no ISO copied');

  const same = await env.start('rearRecoveryDrill', uniqueId('rear-drill-same'), input({ name: 'controller-0' }));
  const sameFail = await failureOf(same);
  assert.equal(sameFail.type, 'InvalidInput');
  assert.match(sameFail.message, /name: the copy must not have the name of the domain it copies/);
  assert.ok(!exists(COPY));
});
