// rearControllerRecovery on the lab's real libvirtd (scripts/lab/libvirt.ts): real QEMU guests under TCG,
// real `virsh` on the hypervisor host over SSH, a backup record and a stand-in rescue ISO on the real
// backup-store (a real bootable ISO made with xorriso whose boot image prints the rescue console's lines;
// the real `rear mkrescue` ISO is the heavy test). Where a guest booted from is read from its serial log:
// the disk's boot sector prints "DISK <domain>", the ISO's prints "RESCUE <host>".
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { domainFacts, nativeFirstBoot, normaliseDomainXml, rescueDefinition } from '../activities/libvirt/libvirt-xml.js';
import { LAB_DOMAINS, labVirsh, libvirtUp, resetLabDomain, serialLogOf, type LibvirtLayout } from '../scripts/lab/libvirt.js';
import type { LabOptions } from '../scripts/lab/layout.js';
import type { RunbookView } from '../workflows/engine/messages.js';
import type { RunbookResult } from '../workflows/engine/runbook.js';
import { saveHistory } from './history-files.js';
import { failureOf, historyText, onHost, scratchDir, status, testEnv, uniqueId, waitFor, type RunningWorker, type TestEnv } from './harness.js';
import { placeBackup, standInRescueIso, type StandInIso } from './stand-in-rescue-iso.js';
import { runFile } from '../workflows/rear/recovery-checks.js';

let env: TestEnv;
let worker: RunningWorker;
let lv: LibvirtLayout;
let unattendedIso: StandInIso;
const lab = JSON.parse(process.env.RUNBOOK_TEST_LAB ?? '{}') as LabOptions;
const suffix = Math.random().toString(36).slice(2, 8);
const storeBase = `/srv/runbooks-rr-${suffix}`;
// rbk*: the lab store's sshd lets such users in (scripts/lab/sshd-host.ts); each recovery's key is let in as it.
const storeUser = `rbk${suffix}`;
const storeKeys = `${storeBase}/home/.ssh/authorized_keys`;
/** The store user's authorized_keys lines of recovery runs (rearBackup's node keys have other comments). */
const recoveryLines = (): string[] =>
  onHost(env.inventory, 'backup-store', `sudo -n cat ${storeKeys} 2>/dev/null; true`)
    .split('\n')
    .filter((l) => / runbooks-recovery:/.test(l));
const keyDrive = (domain: string, h: WorkflowHandle): string => runFile(lv.images, domain, h.workflowId, 'key.iso');
const Q35 = LAB_DOMAINS[0]!;
const I440FX = LAB_DOMAINS[1]!;
const hyp = (script: string): string => onHost(env.inventory, 'hypervisor', script);
const inactiveXml = (domain: string): string => hyp(`virsh dumpxml --inactive ${domain}`);
const domstate = (domain: string): string => hyp(`virsh domstate ${domain}`).trim();
const serial = (domain: string): string => readFileSync(serialLogOf(lv, domain), 'utf8');

const MANUAL_CONSOLE = 'Welcome to Relax-and-Recover. Run "rear recover" to restore your system !\n';
const UNATTENDED_CONSOLE = "Launching 'rear recover' automatically in unattended mode\n\n'rear recover' finished successfully\n\nRebooting in 30 seconds\n";

before(async () => {
  env = await testEnv();
  lv = await libvirtUp(lab);
  worker = await env.startWorker({ config: { libvirt: { uri: null, sudo: false, isoDir: lv.images } } });
  onHost(env.inventory, 'backup-store', `sudo -n useradd --system --home-dir ${storeBase}/home --shell /usr/sbin/nologin ${storeUser}`);
  const scratch = scratchDir('rear-iso');
  mkdirSync(join(scratch, 'manual'));
  mkdirSync(join(scratch, 'unattended'));
  placeBackup(env, `${storeBase}/manual`, 'controller-0', standInRescueIso(join(scratch, 'manual'), 'controller-0', MANUAL_CONSOLE));
  unattendedIso = standInRescueIso(join(scratch, 'unattended'), 'controller-0', UNATTENDED_CONSOLE);
  placeBackup(env, `${storeBase}/unattended`, 'controller-0', unattendedIso);
});
afterEach(async () => env?.endRuns());
after(async () => {
  onHost(env.inventory, 'backup-store', `sudo -n userdel ${storeUser} 2>/dev/null; sudo -n groupdel ${storeUser} 2>/dev/null; true`);
  rmSync(storeBase, { recursive: true, force: true });
  for (const d of LAB_DOMAINS) await resetLabDomain(lab.dir, d).catch(() => undefined);
  await worker?.stop();
  await env?.close();
});

const input = (over: Record<string, unknown>) => ({
  hypervisor: 'hypervisor',
  domain: 'controller-0',
  store: 'backup-store',
  storePath: `${storeBase}/manual`,
  mode: 'manual',
  user: storeUser,
  shutdownTimeoutSeconds: 5,
  requestedBy: 'alice',
  ...over,
});

/** Waits for the run to reach this gate (anything else ends the wait and fails the assertion). */
async function atGate(h: WorkflowHandle, gate: string): Promise<RunbookView> {
  const v = await waitFor(
    `gate ${gate}`,
    async () => {
      const s = await status(h);
      if (['Completed', 'Failed', 'Aborted', 'Parked'].includes(s.status)) return s;
      return s.openGate?.name === gate && s;
    },
    120_000,
  );
  assert.equal(v.openGate?.name, gate, `expected gate ${gate}, got ${v.status}: ${v.parked?.step ?? ''} ${v.parked?.error ?? v.lastError ?? ''}`);
  return v;
}

async function approve(h: WorkflowHandle, gate: string): Promise<RunbookView> {
  const v = await atGate(h, gate);
  await h.executeUpdate('approve', { args: [{ gate, approver: 'bob', reason: `test: ${gate}` }] });
  return v;
}

/** The boot order as libvirt itself wrote the definition back: the devices in the order the firmware tries them. */
function bootElements(xml: string): string[] {
  return [...xml.matchAll(/<boot (dev|order)='([^']+)'\/>/g)].map((m) => `${m[1]}=${m[2]}`);
}

test('manual mode on q35: the defined XML boots the ISO first (sata), the guest boots it, the original definition is back byte for byte (its VNC password too) and the domain runs from disk', async () => {
  await resetLabDomain(lab.dir, Q35);
  // A VNC password: `virsh dumpxml --inactive` leaves it out unless --security-info is given.
  const withVnc = join(lv.dir, 'with-vnc.xml');
  writeFileSync(
    withVnc,
    inactiveXml('controller-0').replace('</devices>', "<graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='vncSec#1'/></devices>"),
  );
  await labVirsh(lab.dir, ['define', withVnc]);
  const original = inactiveXml('controller-0');
  const h = await env.start('rearControllerRecovery', uniqueId('rear-recovery-manual'), input({}));

  const gate = await atGate(h, 'boot-rescue');
  assert.ok(!(await status(h)).approvals.some((a) => a.gate === 'power-off'), 'a domain already shut off needs no power-off gate');
  assert.match(gate.openGate!.plan.join('\n'), /boots the rescue image .*rear-controller-0\.iso \(sata sd., per-device boot order, cdrom first\)/);
  const edited = inactiveXml('controller-0');
  const facts = domainFacts(edited);
  assert.equal(facts.firstBoot, `cdrom:${lv.images}/rear-controller-0.iso`);
  assert.deepEqual(bootElements(edited), ['order=2', 'order=1'], "the seed's cdrom-then-hd as per-device orders: the disk 2, the ISO's drive 1");
  assert.match(edited, /<bootmenu enable='yes' timeout='3000'\/>/);
  assert.deepEqual(
    facts.cdroms.map((c) => [c.bus, c.source, c.bootOrder]),
    [
      ['sata', `${lv.images}/rear-controller-0.iso`, 1],
      ['sata', keyDrive('controller-0', h), undefined],
    ],
    'q35 has no IDE: the rescue ISO and the recovery key drive on SATA, only the ISO booted',
  );
  assert.equal(readFileSync(join(lv.images, 'rear-controller-0.iso')).length > 0, true);
  // The recovery key: on its drive (ISO 9660, label RBKEY) on the hypervisor, not yet on the store.
  assert.match(hyp(`xorriso -indev ${keyDrive('controller-0', h)} -pvd_info 2>&1`), /RBKEY/);
  assert.deepEqual(recoveryLines(), [], 'no recovery key on the store before boot-rescue is approved');

  await h.executeUpdate('approve', { args: [{ gate: 'boot-rescue', approver: 'bob', reason: 'test' }] });
  await waitFor('the rescue console on the serial log', async () => serial('controller-0').includes('RESCUE controller-0'), 60_000);
  const consoleGate = await atGate(h, 'rear-recover-finished');
  const lines = recoveryLines();
  assert.equal(lines.length, 1, 'one store line for this recovery while the rescue system runs');
  assert.match(lines[0]!, new RegExp(`^restrict,expiry-time="\\d{12}Z" ssh-ed25519 [A-Za-z0-9+/]+=* runbooks-recovery:${h.workflowId}$`));
  assert.match(consoleGate.openGate!.plan.join('\n'), /on hypervisor: virsh console controller-0/);
  assert.match(consoleGate.openGate!.plan.join('\n'), /type: rear recover/);
  await h.executeUpdate('approve', { args: [{ gate: 'rear-recover-finished', approver: 'bob', reason: 'rear recover finished' }] });

  const r = (await h.result()) as RunbookResult;
  assert.equal(r.status, 'Completed');
  assert.deepEqual(recoveryLines(), [], 'the recovery key is off the store');
  assert.ok(!existsSync(keyDrive('controller-0', h)), 'and its drive off the hypervisor');
  assert.equal((r.output as { recoveryKey: { revoked: number } }).recoveryKey.revoked, 1);
  assert.doesNotMatch(await historyText(h), /PRIVATE KEY/, "the key's private half never enters history");
  const restored = inactiveXml('controller-0');
  assert.equal(normaliseDomainXml(restored), normaliseDomainXml(original), 'the original definition is back');
  assert.equal(restored, original, 'byte for byte, as libvirt writes it');
  assert.equal(domstate('controller-0'), 'running');
  await waitFor('the disk boot after the rescue boot', async () => /RESCUE controller-0[\s\S]*DISK controller-0/.test(serial('controller-0')), 60_000);
  assert.match(
    (await labVirsh(lab.dir, ['dumpxml', '--inactive', '--security-info', 'controller-0'])).stdout,
    /passwd='vncSec#1'/,
    'the VNC password is still defined',
  );
  const saved = readFileSync(join(process.env.RUNBOOK_DATA_DIR!, 'audit', h.workflowId, 'controller-0.xml.bak'), 'utf8');
  assert.ok(!saved.includes('vncSec#1'), 'the audit copy holds no password');
  assert.equal(saved.replace(" passwd='(kept on the hypervisor only)'", ''), original, "the seed's controller-0.xml.bak is in the run's audit store");
  await saveHistory(h, 'rearControllerRecovery-manual');
});

test('an empty cdrom earlier in the definition: the ISO still boots first (libvirt gives its drive bootindex=1), not the empty drive', async () => {
  await resetLabDomain(lab.dir, Q35);
  // <boot dev='cdrom'> boots the FIRST cdrom of the definition: here an empty SCSI drive before everything.
  const withEmpty = inactiveXml('controller-0')
    .replace("<boot dev='hd'/>", "<boot dev='cdrom'/><boot dev='hd'/>")
    .replace('<devices>', "<devices>\n    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sdz' bus='scsi'/><readonly/></disk>");
  const file = join(lv.images, 'controller-0.empty-cdrom.xml');
  writeFileSync(file, withEmpty, { mode: 0o644 });
  hyp(`virsh define ${file} >/dev/null`);
  const original = inactiveXml('controller-0');
  assert.equal(domainFacts(original).firstBoot, 'cdrom:(empty)');
  const h = await env.start('rearControllerRecovery', uniqueId('rear-recovery-empty-cdrom'), input({}));
  await atGate(h, 'boot-rescue');
  const steps = (await status(h)).steps ?? [];
  assert.ok(
    steps.some((st) => st.name === 'check it boots from the cdrom' && st.state === 'ok'),
    'the check (with domxml-to-native) passed',
  );
  assert.equal(nativeFirstBoot(hyp('virsh domxml-to-native qemu-argv --domain controller-0')), `file:${lv.images}/rear-controller-0.iso`);
  await h.executeUpdate('approve', { args: [{ gate: 'boot-rescue', approver: 'bob', reason: 'test' }] });
  await waitFor('the rescue console on the serial log', async () => serial('controller-0').includes('RESCUE controller-0'), 60_000);
  await approve(h, 'rear-recover-finished');
  const r = (await h.result()) as RunbookResult;
  assert.equal(r.status, 'Completed');
  assert.equal(normaliseDomainXml(inactiveXml('controller-0')), normaliseDomainXml(original), 'the definition with its empty drive is back');
});

test("unattended mode on i440fx, domain running and deaf to ACPI: shutdown times out, destroy needs a second approval, per-device boot order with IDE, ReaR's result read from the serial log, original back", async () => {
  await resetLabDomain(lab.dir, I440FX);
  hyp('virsh start controller-0-i440fx');
  await waitFor('the guest running from its disk', async () => serial('controller-0-i440fx').includes('DISK controller-0-i440fx'), 60_000);
  const original = inactiveXml('controller-0-i440fx');
  const h = await env.start(
    'rearControllerRecovery',
    uniqueId('rear-recovery-unattended'),
    input({ domain: 'controller-0-i440fx', host: 'controller-0', storePath: `${storeBase}/unattended`, mode: 'unattended' }),
  );

  await approve(h, 'power-off');
  const destroy = await approve(h, 'destroy');
  assert.match(destroy.openGate!.plan.join('\n'), /did not power off: still running after 5s/);
  await atGate(h, 'boot-rescue');
  const edited = inactiveXml('controller-0-i440fx');
  const facts = domainFacts(edited);
  assert.equal(facts.bootStyle, 'per-device', 'the domain used per-device boot elements: no <os><boot dev> added');
  assert.deepEqual(bootElements(edited), ['order=2', 'order=1'], 'disk vda moved to 2, the cdrom (listed after it) is 1');
  assert.deepEqual(
    facts.cdroms.map((c) => [c.bus, c.target, c.bootOrder]),
    [
      ['ide', 'hdc', 1],
      ['ide', 'hdd', undefined],
    ],
    "i440fx: IDE, as in the seed; the recovery key's drive on hdd, never booted",
  );
  assert.equal(facts.onReboot, 'destroy', "ReaR's unattended reboot powers off instead of booting the ISO again");
  await h.executeUpdate('approve', { args: [{ gate: 'boot-rescue', approver: 'bob', reason: 'test' }] });

  const r = (await h.result()) as RunbookResult;
  assert.equal(r.status, 'Completed');
  assert.equal((r.output as { recovery: string }).recovery, 'recovery: finished');
  assert.deepEqual(
    r.approvals.map((a) => a.gate),
    ['power-off', 'destroy', 'boot-rescue'],
  );
  assert.deepEqual(recoveryLines(), [], 'the recovery key is off the store');
  assert.ok(!existsSync(keyDrive('controller-0-i440fx', h)), 'and its drive off the hypervisor');
  assert.equal(normaliseDomainXml(inactiveXml('controller-0-i440fx')), normaliseDomainXml(original));
  assert.equal(domstate('controller-0-i440fx'), 'running');
  await waitFor(
    'the disk boot after the rescue boot',
    async () => /RESCUE controller-0[\s\S]*finished successfully[\s\S]*DISK controller-0-i440fx/.test(serial('controller-0-i440fx')),
    60_000,
  );
  await saveHistory(h, 'rearControllerRecovery-unattended-destroy');
});

test('aborted after the edit (rejected while the rescue system runs) or cancelled at boot-rescue: the saved definition is defined again', async () => {
  await resetLabDomain(lab.dir, Q35);
  const original = inactiveXml('controller-0');

  const h = await env.start('rearControllerRecovery', uniqueId('rear-recovery-reject'), input({}));
  await approve(h, 'boot-rescue');
  await atGate(h, 'rear-recover-finished');
  assert.equal(domainFacts(inactiveXml('controller-0')).firstBoot, `cdrom:${lv.images}/rear-controller-0.iso`, 'edited while the rescue runs');
  await h.executeUpdate('reject', { args: [{ gate: 'rear-recover-finished', approver: 'bob', reason: 'rear recover failed' }] });
  assert.equal((await failureOf(h)).type, 'Aborted');
  assert.equal(normaliseDomainXml(inactiveXml('controller-0')), normaliseDomainXml(original), 'restored after the reject');
  assert.deepEqual(recoveryLines(), [], 'the cleanup took the recovery key off the store');
  assert.ok(!existsSync(keyDrive('controller-0', h)), 'and its drive off the hypervisor');
  const steps = (await status(h)).steps.map((s) => `${s.name}:${s.state}`);
  assert.ok(steps.includes('cleanup: restore the original definition:ok'), steps.join(', '));

  hyp('virsh destroy controller-0');
  const c = await env.start('rearControllerRecovery', uniqueId('rear-recovery-cancel'), input({}));
  await atGate(c, 'boot-rescue');
  assert.notEqual(normaliseDomainXml(inactiveXml('controller-0')), normaliseDomainXml(original), 'edited before the cancel');
  await c.cancel();
  await assert.rejects(c.result());
  assert.equal(normaliseDomainXml(inactiveXml('controller-0')), normaliseDomainXml(original), 'restored after the cancel');
  assert.ok(!existsSync(keyDrive('controller-0', c)), 'the cancelled run made a key drive and the cleanup removed it');
  assert.equal((await status(c)).status, 'Aborted');
});

test('refused: a hostile domain name, an ISO for another host, a checksum that does not match, a domain already running a rescue ISO; a dry run changes nothing', async () => {
  const bad = await env.start('rearControllerRecovery', uniqueId('rear-recovery-inject'), input({ domain: "x'/><disk" }));
  const badFail = await failureOf(bad);
  assert.equal(badFail.type, 'InvalidInput');
  assert.match(badFail.message, /domain: a libvirt domain name/);

  const scratch = scratchDir('rear-iso-bad');
  const iso = standInRescueIso(scratch, 'controller-0', MANUAL_CONSOLE);
  placeBackup(env, `${storeBase}/other-host`, 'controller-0', iso, {
    host: 'controller-1',
    iso: { file: 'rear-controller-1.iso', sha256: iso.sha256, bytes: iso.bytes },
  });
  const other = await env.start('rearControllerRecovery', uniqueId('rear-recovery-other'), input({ storePath: `${storeBase}/other-host` }));
  assert.match((await failureOf(other)).message, /is for host "controller-1", not "controller-0": refused/);

  placeBackup(env, `${storeBase}/bad-sum`, 'controller-0', iso, { iso: { file: 'rear-controller-0.iso', sha256: 'a'.repeat(64), bytes: iso.bytes } });
  const sum = await env.start('rearControllerRecovery', uniqueId('rear-recovery-sum'), input({ storePath: `${storeBase}/bad-sum` }));
  assert.match(
    (await failureOf(sum)).message,
    /rear-controller-0\.iso is \d+ bytes, sha256 [0-9a-f]{12}…; the backup record says \d+ bytes, aaaaaaaaaaaa…: refused/,
  );
  // A later backup that failed halfway left a truncated archive under the recorded name: refused while the
  // domain still runs, not found out by `rear recover` after it wiped the disks.
  placeBackup(env, `${storeBase}/truncated`, 'controller-0', iso);
  const archive = join(`${storeBase}/truncated`, 'controller-0', 'backup.tar.gz');
  writeFileSync(archive, readFileSync(archive).subarray(0, 20));
  const cut = await env.start('rearControllerRecovery', uniqueId('rear-recovery-truncated'), input({ storePath: `${storeBase}/truncated` }));
  assert.match((await failureOf(cut)).message, /backup\.tar\.gz is 20 bytes, sha256 [0-9a-f]{12}…; the backup record says \d+ bytes/);
  // Issue 21: whoever can write to the store edits the record's checksum (to match a tampered ISO) after it was signed.
  placeBackup(env, `${storeBase}/tampered`, 'controller-0', iso);
  const recordFile = join(`${storeBase}/tampered`, 'controller-0', 'runbook-record.json');
  writeFileSync(recordFile, readFileSync(recordFile, 'utf8').replace(iso.sha256, 'b'.repeat(64)));
  const tampered = await env.start('rearControllerRecovery', uniqueId('rear-recovery-tampered'), input({ storePath: `${storeBase}/tampered` }));
  assert.match((await failureOf(tampered)).message, /runbook-record\.json: the signature does not verify with any configured key .*; nothing was changed/);
  for (const h of [other, sum, cut, tampered])
    assert.ok(!(await status(h)).steps.some((s) => s.name === 'copy the ISO to the hypervisor' && s.state === 'ok'), 'nothing copied');

  // A rescue boot left running (a recovery in progress): detected from the live definition, not touched.
  await resetLabDomain(lab.dir, Q35);
  const original = inactiveXml('controller-0');
  const left = join(lv.dir, 'left-running.xml');
  writeFileSync(left, rescueDefinition(original, `${lv.images}/rear-controller-0.iso`).xml);
  await labVirsh(lab.dir, ['create', left]);
  const busy = await env.start('rearControllerRecovery', uniqueId('rear-recovery-busy'), input({}));
  assert.match((await failureOf(busy)).message, /controller-0 is already running a rescue ISO \(.*rear-controller-0\.iso on sda, booted first\)/);
  assert.equal(normaliseDomainXml(inactiveXml('controller-0')), normaliseDomainXml(original), 'its definition untouched');

  await resetLabDomain(lab.dir, Q35);
  const fresh = inactiveXml('controller-0');
  const dry = await env.start('rearControllerRecovery', uniqueId('rear-recovery-dry'), input({ dryRun: true }));
  const plan = (await dry.result()) as RunbookResult;
  assert.equal(plan.status, 'Completed');
  const names = plan.plan!.map((p) => p.name);
  for (const n of ['copy the ISO to the hypervisor', 'boot-rescue', 'define the rescue definition', 'rear-recover-finished', 'restore the original definition'])
    assert.ok(names.includes(n), `${n} planned`);
  assert.equal(inactiveXml('controller-0'), fresh, 'a dry run changes no definition');
  assert.ok(!existsSync(join(lv.images, `controller-0.${dry.workflowId}.xml.bak`)), 'nor saves one');
});

test('the XML library escapes a hostile ISO path: real libvirt reads one cdrom whose source is exactly that path, no extra disk', async () => {
  await resetLabDomain(lab.dir, I440FX);
  const xml = inactiveXml('controller-0-i440fx');
  const hostile = `${lv.images}/x'/><disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vdz'/></disk><x a='.iso`;
  const file = join(lv.dir, 'hostile.xml');
  writeFileSync(file, rescueDefinition(xml, hostile).xml);
  await labVirsh(lab.dir, ['define', file]);
  const facts = domainFacts(inactiveXml('controller-0-i440fx'));
  assert.deepEqual(
    facts.cdroms.map((c) => c.source),
    [hostile],
  );
  assert.ok(!inactiveXml('controller-0-i440fx').includes("dev='/dev/sda'"), 'no block disk was injected');
  await resetLabDomain(lab.dir, I440FX);
});

// Issue 19: the workflow itself proves the machine that comes back is the one backed up. The lab's
// controller-0 (an sshd host on this machine) stands for the recovered controller: it cannot reboot, so the
// record names another boot as the one the backup was taken in.
test('with controller: the machine answering after the recovery is compared with the signed record; another machine-id ends the run Failed', async () => {
  const controller = (script: string): string => onHost(env.inventory, 'controller-0', script).trim();
  const identity = {
    hostname: controller('uname -n'),
    machineId: controller('cat /etc/machine-id'),
    bootId: '00000000-0000-4000-8000-00000000b0b0',
    hostKeys: controller('cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null | awk \'{ print $1 " " $2 }\'').split('\n').filter(Boolean).sort(),
    sshKey: env.inventory.hosts['controller-0']!.hostKey.split(' ').slice(0, 2).join(' '),
    files: { '/etc/passwd': controller('sha256sum < /etc/passwd').split(' ')[0] },
  };
  placeBackup(env, `${storeBase}/same`, 'controller-0', unattendedIso, { unattended: true, identity });
  placeBackup(env, `${storeBase}/other`, 'controller-0', unattendedIso, { unattended: true, identity: { ...identity, machineId: 'e'.repeat(32) } });
  const recover = async (dir: string) => {
    await resetLabDomain(lab.dir, I440FX);
    const h = await env.start(
      'rearControllerRecovery',
      uniqueId(`rear-recovery-${dir}`),
      input({
        domain: 'controller-0-i440fx',
        host: 'controller-0',
        storePath: `${storeBase}/${dir}`,
        mode: 'unattended',
        controller: 'controller-0',
        bootTimeoutSeconds: 60,
      }),
    );
    await approve(h, 'boot-rescue');
    return h;
  };

  const same = await recover('same');
  const r = (await same.result()) as RunbookResult;
  assert.equal(r.status, 'Completed', JSON.stringify(r.steps.slice(-3)));
  assert.deepEqual((r.output as { matches: unknown }).matches, {
    hostname: identity.hostname,
    machineId: identity.machineId,
    hostKeys: new Set([...identity.hostKeys, identity.sshKey]).size,
    files: 1,
  });
  assert.deepEqual(
    r.steps.slice(-2).map((st) => `${st.name}:${st.state}`),
    ['wait for controller-0 to answer SSH:ok', 'compare controller-0 with the backup record:ok'],
  );

  const other = await recover('other');
  const f = await failureOf(other);
  assert.match(f.message, /the recovered machine has machine-id [0-9a-f]{32}, the backup recorded e{32}/);
  const failed = (await status(other)).steps.find((st) => st.state === 'failed');
  assert.equal(failed?.name, 'compare controller-0 with the backup record');
  assert.equal(domstate('controller-0-i440fx'), 'running', 'the domain was recovered and runs; the finding is the answer');
  assert.deepEqual(recoveryLines(), [], 'the recovery key is off the store');
});
