// The ReaR family's decisions, without a lab: local.conf as rearBackup renders it (read back by bash, as
// ReaR `source`s it), the libvirt rescue definition (the seed's edit of controller-0.xml), and the checks
// that refuse a wrong backup record, a domain already booting a rescue ISO, or a store that is not ready.
// Rows come from the ReaR seed page (/work/shared/seeds/002_*) where it has them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DomainState } from '../../activities/libvirt/libvirt.js';
import {
  cdromBus,
  domainFacts,
  drillDefinition,
  DomainXmlError,
  nativeFirstBoot,
  normaliseDomainXml,
  rescueDefinition,
} from '../../activities/libvirt/libvirt-xml.js';
import { LAB_DOMAINS, labDomainXml, libvirtLayout } from '../../scripts/lab/libvirt.js';
import {
  backupRecord,
  dumpRefusal,
  installCommands,
  measuredRefusal,
  parseChecks,
  parseDump,
  parseMeasure,
  parsePrevious,
  parseRootKey,
  parseTools,
  REAR_PACKAGES_RHEL,
  rearConfig,
  rootKeyRefusal,
  toolsRefusal,
  type BackupSettings,
  type Measured,
} from '../../workflows/rear/backup-steps.js';
import type { CommandResult } from '../../workflows/engine/commands.js';
import { RearBackupInput } from '../../workflows/rear/backup.js';
import { DEFAULT_VERIFY_FILES, identityMatch, identityReadRefusal, identityRefusal, parseIdentity, scannedKeysRefusal } from '../../workflows/rear/identity.js';
import { backupUrl, excludePattern, includePath, outputUrl, renderLocalConf, type RearConfig } from '../../workflows/rear/config.js';
import {
  domainRefusal,
  drillRefusal,
  editedRefusal,
  fromDiskRefusal,
  recordRefusal,
  runFile,
  storedRefusal,
  type RecordedBackup,
  type RecoveryTarget,
} from '../../workflows/rear/recovery-checks.js';
import {
  changesNeeded,
  parseStore,
  preparedRefusal,
  sftpRefusal,
  STORE_USER_COMMENT,
  storePath,
  systemUser,
  targetRefusal,
  type StoreState,
} from '../../workflows/rear/store.js';

// ---- local.conf ----

/** The seed's store: user backup on undercloud-0, /data/backup, BACKUP_PROG_EXCLUDE ( '/tmp/*' '/data/*' ). */
const seed: BackupSettings = { store: 'undercloud-0', user: 'backup', path: '/data/backup', exclude: ['/data/*'], unattended: false };
const conf = (over: Partial<BackupSettings> = {}, port = 22): RearConfig => rearConfig({ ...seed, ...over }, 'controller-0', port, 'rear-backup-1');

/** What bash makes of the file ReaR sources: each variable's value(s), one a line. */
function sourced(text: string, vars: string[]): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'rear-conf-'));
  const file = join(dir, 'local.conf');
  writeFileSync(file, text);
  const out: Record<string, string> = {};
  for (const v of vars) {
    out[v] = execFileSync('bash', ['-c', `set -u; source "$1"; declare -n x=${v}; printf '%s\\n' "\${x[@]}"`, 'check', file], { encoding: 'utf8' }).trimEnd();
  }
  return out;
}

test("local.conf: the seed's settings, without its password, and the ISO in the node's own directory", () => {
  const text = renderLocalConf(conf());
  const v = sourced(text, [
    'OUTPUT',
    'OUTPUT_URL',
    'BACKUP',
    'BACKUP_URL',
    'BACKUP_PROG_COMPRESS_OPTIONS',
    'BACKUP_PROG_COMPRESS_SUFFIX',
    'BACKUP_PROG_EXCLUDE',
  ]);
  assert.deepEqual(v, {
    OUTPUT: 'ISO',
    // The seed: sftp://backup:backup@undercloud-0/data/backup/ — an empty password here, the key does the rest.
    OUTPUT_URL: 'sftp://backup:@undercloud-0/data/backup/controller-0/',
    BACKUP: 'NETFS',
    BACKUP_URL: 'sshfs://backup@undercloud-0/data/backup/',
    BACKUP_PROG_COMPRESS_OPTIONS: '--gzip',
    BACKUP_PROG_COMPRESS_SUFFIX: '.gz',
    BACKUP_PROG_EXCLUDE: '/tmp/*\n/var/tmp/*\n/data/*',
  });
  assert.doesNotMatch(text, /:backup@|SSH_ROOT_PASSWORD/);
  // The rescue image: known_hosts (the pinned store key) and authorized_keys, and no key for the store (that
  // comes at recovery time, on the RBKEY drive); the pattern form removes host keys (the rescue makes its own).
  const ssh = sourced(text, ['SSH_FILES', 'SSH_UNPROTECTED_PRIVATE_KEYS']);
  assert.deepEqual(ssh.SSH_FILES!.split('\n'), [
    '/etc/ssh/modu[l]i',
    '/etc/ssh/ssh_co[n]fig',
    '/etc/ssh/sshd_co[n]fig',
    '/root/.ssh/authorized_ke[y]s',
    '/root/.ssh/known_hos[t]s',
  ]);
  assert.doesNotMatch(ssh.SSH_FILES!, /id_/, 'no private key of root goes into the rescue image');
  const dir = mkdtempSync(join(tmpdir(), 'rear-fn-'));
  writeFileSync(join(dir, 'local.conf'), text);
  assert.equal(
    execFileSync('bash', ['-c', 'set -u; source "$1"; declare -F runbooks_recovery_key', 'check', join(dir, 'local.conf')], { encoding: 'utf8' }).trim(),
    'runbooks_recovery_key',
    'sourcing local.conf defines the pickup PRE_RECOVERY_COMMANDS calls',
  );
  assert.equal(ssh.SSH_UNPROTECTED_PRIVATE_KEYS, 'etc/ssh/ssh_host_*_key');
  assert.equal(
    sourced(text, ['PRE_RECOVERY_COMMANDS']).PRE_RECOVERY_COMMANDS,
    'runbooks_recovery_key',
    "the node resolves the store from its own /etc/hosts: no hosts line, only the recovery key's pickup",
  );
  assert.match(text, /^ISO_DEFAULT='manual'$/m);
  assert.doesNotMatch(text, /ISO_RECOVER_MODE|BACKUP_ONLY_INCLUDE|KERNEL_FILE|BOOTLOADER/);
  assert.match(text, /rear-backup-1/, 'names the run that rendered it');
});

test("local.conf: a store the node's /etc/hosts lacks gets the seed's hosts line in the rescue system, before rear recover mounts it", () => {
  const c = rearConfig(seed, 'controller-0', 22, 'rear-backup-1', '192.168.24.1');
  const [key, cmd = ''] = sourced(renderLocalConf(c), ['PRE_RECOVERY_COMMANDS']).PRE_RECOVERY_COMMANDS!.split('\n');
  assert.equal(key, 'runbooks_recovery_key', 'the recovery key first, then the hosts line, both before ReaR mounts BACKUP_URL');
  assert.equal(cmd, 'grep -qw undercloud-0 /etc/hosts || echo 192.168.24.1 undercloud-0 >> /etc/hosts');
  // Run as ReaR does (eval), against a scratch copy of /etc/hosts: added once, not twice.
  const dir = mkdtempSync(join(tmpdir(), 'rear-hosts-'));
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost\n');
  const run = () => execFileSync('bash', ['-c', `eval "$1"`, 'rear', cmd.replaceAll('/etc/hosts', hosts)], { encoding: 'utf8' });
  run();
  run();
  assert.equal(execFileSync('cat', [hosts], { encoding: 'utf8' }), '127.0.0.1 localhost\n192.168.24.1 undercloud-0\n');
});

test('local.conf: each option renders the variables ReaR reads for it', () => {
  const rows: { what: string; over: Partial<BackupSettings>; port?: number; want: Record<string, string> }[] = [
    {
      what: 'a store off port 22: in the sftp URL and the sshfs options',
      over: {},
      port: 2222,
      want: { OUTPUT_URL: 'sftp://backup:@undercloud-0:2222/data/backup/controller-0/', BACKUP_OPTIONS: 'rw,noatime,ServerAliveInterval=15,port=2222' },
    },
    { what: 'port 22: no port anywhere', over: {}, want: { BACKUP_OPTIONS: 'rw,noatime,ServerAliveInterval=15' } },
    {
      what: 'an include list',
      over: { includeOnly: ['/etc/rear', '/root'] },
      want: { BACKUP_ONLY_INCLUDE: 'yes', BACKUP_PROG_INCLUDE: '/etc/rear\n/root' },
    },
    {
      what: 'a rescue kernel and a bootloader',
      over: { rescueKernel: '6.1.0-56-amd64', bootloader: 'GRUB2' },
      want: { KERNEL_VERSION: '6.1.0-56-amd64', KERNEL_FILE: '/boot/vmlinuz-6.1.0-56-amd64', BOOTLOADER: 'GRUB2' },
    },
    {
      what: 'unattended: automatic + unattended (auto_recover unattended)',
      over: { unattended: true },
      want: { ISO_DEFAULT: 'automatic', ISO_RECOVER_MODE: 'unattended' },
    },
    {
      what: 'a quote in a value stays inside its word (the second wall behind the schemas)',
      over: { exclude: ["/it's/*"] },
      want: { BACKUP_PROG_EXCLUDE: "/tmp/*\n/var/tmp/*\n/it's/*" },
    },
  ];
  for (const r of rows) assert.deepEqual(sourced(renderLocalConf(conf(r.over, r.port)), Object.keys(r.want)), r.want, r.what);
});

test('local.conf URLs and the input fields behind them', () => {
  assert.equal(outputUrl(conf()), 'sftp://backup:@undercloud-0/data/backup/controller-0/');
  assert.equal(backupUrl(conf({}, 2222)), 'sshfs://backup@undercloud-0/data/backup/', 'the sshfs port goes in BACKUP_OPTIONS');
  const ok = (schema: { safeParse(v: unknown): { success: boolean } }, v: string): boolean => schema.safeParse(v).success;
  const rows: [string, boolean, boolean][] = [
    // value, as an exclude pattern, as an include path
    ['/data/*', true, false],
    ['/var/cache/*', true, false],
    ['/etc/rear', true, true],
    ['/data/../etc', false, false],
    ["/it's", false, false],
    ['/$(id)', false, false],
    ['relative/path', false, false],
    ['/a\n/b', false, false],
  ];
  for (const [v, ex, inc] of rows) {
    assert.equal(ok(excludePattern(), v), ex, `exclude ${JSON.stringify(v)}`);
    assert.equal(ok(includePath(), v), inc, `include ${JSON.stringify(v)}`);
  }
  for (const [v, good] of [
    ['/data/backup', true],
    ['/', false],
    ['/data/backup/', false],
    ['/data/../etc', false],
    ['/srv/rear/backup', true],
    ['/var/lib/rear-store', true],
    ['/etc', false],
    ['/etc/rear', false],
    ['/usr', false],
    ['/usr/local/backup', false],
    ['/var', false],
    ['/var/lib', false],
    ['/root', false],
    ['/root/backup', false],
    ['/home', false],
    ['/home/alice', false],
    ['/boot', false],
  ] as const)
    assert.equal(ok(storePath(), v), good, `store path ${v}`);
  for (const [v, good] of [
    ['backup', true],
    ['root', false],
    ['root;id', false],
    ['Backup', false],
  ] as const)
    assert.equal(ok(systemUser(), v), good, `user ${v}`);
});

// ---- the libvirt rescue definition ----

/** The seed's controller-0 before the edit: an i440fx guest booting its disk, no cdrom yet. */
const SEED_DOMAIN = `<domain type='kvm'>
  <name>controller-0</name>
  <uuid>6b0a2f1e-6f1c-4b2c-9d1e-0c2f7a1b3c4d</uuid>
  <os>
    <type arch='x86_64' machine='pc-i440fx-rhel7.6.0'>hvm</type>
    <boot dev='hd'/>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/controller-0.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'/>
  </devices>
</domain>`;
const lab = libvirtLayout('/nonexistent/lab');
const ISO = '/data/backup/rear-controller-0.iso';

test("the rescue definition: the seed's edit (cdrom with the ISO first, then the disk, boot menu on) and no boot loop", () => {
  const edit = rescueDefinition(SEED_DOMAIN, ISO);
  const f = domainFacts(edit.xml);
  assert.deepEqual(
    { target: edit.target, bus: edit.bus, bootStyle: edit.bootStyle },
    { target: 'hdc', bus: 'ide', bootStyle: 'per-device' },
    "the seed's hdc on IDE",
  );
  assert.equal(f.firstBoot, `cdrom:${ISO}`);
  // The seed's <boot dev='cdrom'/><boot dev='hd'/> as per-device orders: exactly this drive first, then the disk.
  assert.deepEqual(
    [...edit.xml.matchAll(/<(boot|bootmenu) ([^/]*)\/>/g)].map((m) => `${m[1]} ${m[2]}`),
    ['bootmenu enable="yes" timeout="3000"', 'boot order="2"', 'boot order="1"'],
  );
  assert.match(edit.xml, /controller-0\.qcow2"\/>\s*<target dev="vda" bus="virtio"\/>\s*<boot order="2"\/>/);
  assert.deepEqual(f.cdroms, [{ target: 'hdc', bus: 'ide', source: ISO, bootOrder: 1 }]);
  assert.equal(f.onReboot, 'destroy', "ReaR's own reboot after recover must not boot the ISO again");
  assert.equal(f.uuid, domainFacts(SEED_DOMAIN).uuid, 'the same domain');
  assert.equal(domainFacts(rescueDefinition(edit.xml, ISO).xml).cdroms.length, 1, 'editing again reuses the cdrom');
});

test("the rescue definition on the lab's domains: q35 gets SATA, per-device boot order moves the disk down", () => {
  const rows = LAB_DOMAINS.map((d) => ({ d, xml: labDomainXml(lab, d) }));
  const q35 = rows.find((r) => r.d.machine.includes('q35'))!;
  const perDevice = rows.find((r) => r.d.bootStyle === 'per-device')!;
  const a = rescueDefinition(q35.xml, ISO);
  assert.deepEqual([a.bus, a.target, a.bootStyle], ['sata', 'sda', 'per-device']);
  const b = rescueDefinition(perDevice.xml, ISO);
  const fb = domainFacts(b.xml);
  assert.equal(b.bootStyle, 'per-device');
  assert.doesNotMatch(b.xml, /<boot dev=/, 'never both boot forms');
  assert.deepEqual(
    fb.cdroms.map((c) => c.bootOrder),
    [1],
  );
  assert.match(b.xml, /<target dev="vda" bus="virtio"\/>\s*<boot order="2"\/>/);
  assert.equal(fb.firstBoot, `cdrom:${ISO}`);
});

/** An empty cdrom (and a second disk) before anything else: `<boot dev='cdrom'>` would boot the empty drive. */
const EMPTY_CDROM_FIRST = SEED_DOMAIN.replace('pc-i440fx-rhel7.6.0', 'q35')
  .replace("<boot dev='hd'/>", "<boot dev='cdrom'/><boot dev='hd'/>")
  .replace(
    '<devices>',
    `<devices>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/><readonly/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/srv/tools.iso'/><target dev='sdb' bus='sata'/><readonly/></disk>`,
  )
  .replace(
    '</devices>',
    "<disk type='file' device='disk'><source file='/var/lib/libvirt/images/data.qcow2'/><target dev='vdb' bus='virtio'/></disk></devices>",
  );

test('the rescue ISO boots first whatever the definition holds: other cdroms, empty drives, several disks', () => {
  // Our parse used to say the ISO came first here; QEMU would have booted the empty sda.
  assert.equal(domainFacts(EMPTY_CDROM_FIRST).firstBoot, 'cdrom:(empty)');
  const edit = rescueDefinition(EMPTY_CDROM_FIRST, ISO);
  const f = domainFacts(edit.xml);
  assert.equal(f.firstBoot, `cdrom:${ISO}`);
  assert.doesNotMatch(edit.xml, /<boot dev=/);
  assert.deepEqual(
    f.cdroms.map((c) => [c.target, c.source, c.bootOrder]),
    [
      ['sda', ISO, 1],
      ['sdb', '/srv/tools.iso', undefined],
    ],
  );
  assert.match(edit.xml, /<target dev="vda" bus="virtio"\/>\s*<boot order="2"\/>/);
  assert.doesNotMatch(edit.xml, /<target dev="vdb" bus="virtio"\/>\s*<boot/, 'the second disk is not booted');
  // A definition whose other cdrom carries order 1 already: it loses it, the ISO's drive takes 1.
  const perDevice = EMPTY_CDROM_FIRST.replace("<boot dev='cdrom'/><boot dev='hd'/>", '')
    .replace("<target dev='sdb' bus='sata'/>", "<target dev='sdb' bus='sata'/><boot order='1'/>")
    .replace("<target dev='vda' bus='virtio'/>", "<target dev='vda' bus='virtio'/><boot order='2'/>");
  const g = domainFacts(rescueDefinition(perDevice, ISO).xml);
  assert.deepEqual(
    g.cdroms.map((c) => c.bootOrder),
    [1, undefined],
  );
  assert.equal(g.firstBoot, `cdrom:${ISO}`);
});

test("the recovery's key drive: a second cdrom on the same bus, never booted; the ISO keeps bootindex 1", () => {
  const KEY = '/var/lib/libvirt/images/controller-0.run-1.key.iso';
  for (const [what, xml, bus] of [
    ['i440fx (IDE)', SEED_DOMAIN, 'ide'],
    ['q35 (SATA) with other cdroms', EMPTY_CDROM_FIRST, 'sata'],
  ] as const) {
    const edit = rescueDefinition(xml, ISO, KEY);
    const f = domainFacts(edit.xml);
    assert.equal(f.firstBoot, `cdrom:${ISO}`, what);
    const key = f.cdroms.find((c) => c.source === KEY);
    assert.ok(key, `${what}: the key drive is attached`);
    assert.equal(key.bus, bus, `${what}: on the rescue drive's bus`);
    assert.equal(key.bootOrder, undefined, `${what}: never booted`);
    assert.notEqual(key.target, edit.target, `${what}: a target of its own`);
    assert.equal(f.cdroms.filter((c) => c.bootOrder === 1).length, 1, `${what}: one drive boots first`);
  }
  assert.equal(domainFacts(rescueDefinition(SEED_DOMAIN, ISO).xml).cdroms.length, 1, 'no key asked, no key drive');
});

test("libvirt's own command line: the drive holding bootindex=1, followed to its file", () => {
  // virsh domxml-to-native qemu-argv of libvirt 9.0 for an empty cdrom, the ISO (order 1) and a disk (order 2).
  const argv = `/usr/bin/qemu-system-x86_64 -name guest=t1 -boot strict=on -device '{"driver":"ide-cd","bus":"ide.0","id":"sata0-0-0"}' -blockdev '{"driver":"file","filename":"/tmp/r.iso","node-name":"libvirt-2-storage","auto-read-only":true,"discard":"unmap"}' -blockdev '{"node-name":"libvirt-2-format","read-only":true,"driver":"raw","file":"libvirt-2-storage"}' -device '{"driver":"ide-cd","bus":"ide.1","drive":"libvirt-2-format","id":"sata0-0-1","bootindex":1}' -blockdev '{"driver":"file","filename":"/tmp/d.img","node-name":"libvirt-1-storage"}' -blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' -device '{"driver":"virtio-blk-pci","bus":"pci.2","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":2}'`;
  assert.equal(nativeFirstBoot(argv), 'file:/tmp/r.iso');
  assert.equal(nativeFirstBoot(argv.replace('"bootindex":1', '"bootindex":3')), 'file:/tmp/d.img');
  assert.equal(nativeFirstBoot(argv.replace(/"drive":"libvirt-2-format",/, '')), 'empty');
  assert.equal(nativeFirstBoot('/usr/bin/qemu -boot order=dc'), 'none');
  // The older -drive form.
  assert.equal(
    nativeFirstBoot(
      'qemu -drive file=/x/rear-c.iso,format=raw,if=none,id=drive-ide0-1-0,readonly=on -device ide-cd,bus=ide.1,drive=drive-ide0-1-0,bootindex=1',
    ),
    'file:/x/rear-c.iso',
  );
  const edited: DomainState = { state: 'shut off', inactive: domainFacts(rescueDefinition(SEED_DOMAIN, ISO).xml), nativeFirstBoot: 'empty' };
  assert.match(editedRefusal(edited, 'controller-0', ISO) ?? '', /domxml-to-native\) boots empty first \(bootindex=1\)/);
  assert.equal(editedRefusal({ ...edited, nativeFirstBoot: `file:${ISO}` }, 'controller-0', ISO), undefined);
});

test('the rescue definition refuses what it cannot edit safely, and escapes a hostile path', () => {
  assert.equal(cdromBus('q35'), 'sata');
  assert.equal(cdromBus('pc-q35-8.2'), 'sata');
  assert.equal(cdromBus('pc'), 'ide');
  assert.equal(cdromBus('pc-i440fx-rhel7.6.0'), 'ide');
  assert.throws(() => cdromBus('virt'), DomainXmlError);
  assert.throws(() => rescueDefinition('<network/>', ISO), /no <domain> root/);
  assert.throws(() => rescueDefinition(SEED_DOMAIN.replace(/<devices>[\s\S]*<\/devices>/, ''), ISO), /no <devices>/);
  const hostile = `/x'/><disk type='block' device='disk'><source dev='/dev/sda'/></disk><x a='.iso`;
  const f = domainFacts(rescueDefinition(SEED_DOMAIN, hostile).xml);
  assert.deepEqual(
    f.cdroms.map((c) => c.source),
    [hostile],
  );
  assert.equal(normaliseDomainXml(`<domain>\n  <name>a</name>\n  <!-- c -->\n</domain>`), '<domain><name>a</name></domain>');
  // libvirt moves the controllers it added when the same definition is defined again (seen with an added
  // SCSI cdrom on q35): the same definition. Disks keep their order (it decides which cdrom boots).
  const ctl = (i: number) => `<controller type='pci' index='${i}' model='pcie-root-port'/>`;
  assert.equal(
    normaliseDomainXml(`<domain><devices>${ctl(6)}<disk device='disk'/>${ctl(5)}</devices></domain>`),
    normaliseDomainXml(`<domain><devices>${ctl(5)}${ctl(6)}<disk device='disk'/></devices></domain>`),
  );
  assert.notEqual(
    normaliseDomainXml(`<domain><devices><disk device='cdrom'/><disk device='disk'/></devices></domain>`),
    normaliseDomainXml(`<domain><devices><disk device='disk'/><disk device='cdrom'/></devices></domain>`),
  );
});

// ---- rearControllerRecovery's checks ----

const target: RecoveryTarget = { domain: 'controller-0', storePath: '/data/backup', mode: 'manual' };
const sha = 'ab'.repeat(32);
const rec = (over: Partial<RecordedBackup> = {}): RecordedBackup => ({
  host: 'controller-0',
  iso: { file: 'rear-controller-0.iso', sha256: sha, bytes: 1 },
  backup: { file: 'backup.tar.gz', sha256: sha, bytes: 1 },
  recordedAt: '2026-11-29T06:00:00Z',
  ...over,
});
const state = (xml: string, st = 'shut off', live?: string): DomainState => ({
  state: st,
  inactive: domainFacts(xml),
  live: live ? domainFacts(live) : undefined,
});

test('the backup record must be the rescue image of this host, with a checksum', () => {
  const rows: [string, RecordedBackup, RecoveryTarget, RegExp | undefined][] = [
    ['its own record', rec(), target, undefined],
    ['another host', rec({ host: 'controller-1' }), target, /is for host "controller-1", not "controller-0": refused/],
    ['another ISO', rec({ iso: { file: 'rear-controller-1.iso', sha256: sha, bytes: 1 } }), target, /not rear-controller-0\.iso/],
    ['no checksum', rec({ iso: { file: 'rear-controller-0.iso', sha256: 'x', bytes: 1 } }), target, /no valid sha256/],
    ['host given apart from the domain', rec(), { ...target, domain: 'vm-17', host: 'controller-0' }, undefined],
  ];
  for (const [what, r, t, want] of rows) {
    const why = recordRefusal(r, t);
    if (want) assert.match(why ?? '', want, what);
    else assert.equal(why, undefined, what);
  }
});

test('a domain already booting a rescue ISO, without a UUID, or without a serial log in unattended mode is not touched', () => {
  const rescue = rescueDefinition(SEED_DOMAIN, ISO).xml;
  const rows: [string, DomainState, RecoveryTarget, RegExp | undefined][] = [
    ['shut off, from disk', state(SEED_DOMAIN), target, undefined],
    ['running from disk', state(SEED_DOMAIN, 'running', SEED_DOMAIN), target, undefined],
    ['running the rescue ISO', state(SEED_DOMAIN, 'running', rescue), target, /already running a rescue ISO \(.*rear-controller-0\.iso on hdc, booted first\)/],
    ['definition left edited', state(rescue), target, /already boots a rescue ISO first/],
    ['no UUID', state(SEED_DOMAIN.replace(/<uuid>.*<\/uuid>/, '')), target, /has no UUID/],
    ['unattended, no serial log', state(SEED_DOMAIN), { ...target, mode: 'unattended' }, /has none \(<serial><log file=…\/>\)/],
    [
      'unattended with the lab serial log',
      state(labDomainXml(lab, LAB_DOMAINS[0]!).replace(/<name>[^<]*<\/name>/, '$&<uuid>1-2</uuid>')),
      { ...target, mode: 'unattended' },
      undefined,
    ],
  ];
  for (const [what, d, t, want] of rows) {
    const why = domainRefusal(d, t);
    if (want) assert.match(why ?? '', want, what);
    else assert.equal(why, undefined, what);
  }
  assert.equal(editedRefusal(state(rescue), 'controller-0', ISO), undefined);
  assert.match(editedRefusal(state(SEED_DOMAIN), 'controller-0', ISO) ?? '', /boots hd first, not the cdrom/);
  assert.match(editedRefusal(state(rescue, 'running'), 'controller-0', ISO) ?? '', /is running, expected shut off/);
  assert.equal(fromDiskRefusal(state(SEED_DOMAIN, 'running', SEED_DOMAIN), 'controller-0'), undefined);
  assert.match(fromDiskRefusal(state(SEED_DOMAIN, 'running', rescue), 'controller-0') ?? '', /still boots cdrom:/);
  assert.match(fromDiskRefusal(state(SEED_DOMAIN), 'controller-0') ?? '', /is shut off after start/);
  // The definition's own empty cdrom may boot first, as it did before the recovery: only the rescue ISO is refused.
  assert.equal(fromDiskRefusal(state(EMPTY_CDROM_FIRST, 'running', EMPTY_CDROM_FIRST), 'controller-0'), undefined);
  assert.equal(
    runFile('/var/lib/libvirt/images', 'controller-0', 'rear recovery/1', 'xml.bak'),
    '/var/lib/libvirt/images/controller-0.rear_recovery_1.xml.bak',
  );
});

// ---- rearPrepareStore's decisions ----

const storeRead = (parts: {
  user?: string;
  groups?: string;
  group?: string;
  password?: string;
  dir?: string;
  keys?: string[];
  login?: string;
  homes?: string[];
  df?: number;
}): StoreState =>
  parseStore(
    [
      '@user',
      parts.user ?? '',
      '@groups',
      parts.groups ?? '',
      '@group',
      parts.group ?? '',
      '@password',
      parts.password ?? 'empty',
      '@dir',
      parts.dir ?? '',
      '@keys',
      ...(parts.keys ?? []),
      '@login',
      parts.login ?? 'rbops',
      '@homes',
      ...(parts.homes ?? ['root:/root', 'backup:/var/backups', 'rbops:/home/rbops', 'nobody:/nonexistent']),
      '@shells',
      '/bin/sh',
      '/bin/bash',
      '@df',
      String(parts.df ?? 1073741824),
    ].join('\n'),
  );
const KEY = `ssh-ed25519 ${'A'.repeat(68)} root@controller-0`;
const want = { user: 'backup', path: '/data/backup', authorizedKeys: [] as string[] };

test("the store: what it lacks decides the changes (the seed's useradd/chpasswd, made key-only)", () => {
  const prepared = {
    user: `backup:x:998:998:${STORE_USER_COMMENT}:/data/backup:/usr/sbin/nologin`,
    group: 'backup:x:998:',
    password: 'none',
    dir: 'backup:backup 750',
  };
  const rows: [string, StoreState, typeof want, string[]][] = [
    ['a fresh store', storeRead({}), want, ['group', 'user', 'password', 'directory']],
    ['prepared', storeRead(prepared), want, []],
    [
      "Debian's own backup user (a login shell, a locked password)",
      storeRead({ ...prepared, user: 'backup:x:34:34:backup:/var/backups:/bin/sh', password: 'locked' }),
      want,
      ['shell', 'password'],
    ],
    ['a group without the user', storeRead({ group: 'backup:x:998:' }), want, ['user', 'password', 'directory']],
    ['the directory world-readable (the seed: chmod -R 755)', storeRead({ ...prepared, dir: 'backup:backup 755' }), want, ['directory']],
    ['keys wanted, none there', storeRead(prepared), { ...want, authorizedKeys: [KEY] }, ['keys']],
    ['keys there, restricted', storeRead({ ...prepared, keys: [`restrict ${KEY}`] }), { ...want, authorizedKeys: [KEY] }, []],
    ['keys there without restrict (before issue 21)', storeRead({ ...prepared, keys: [KEY] }), { ...want, authorizedKeys: [KEY] }, ['keys']],
  ];
  for (const [what, s, w, changes] of rows) assert.deepEqual(changesNeeded(w, s), changes, what);
  const s = storeRead(prepared);
  assert.deepEqual(s.user, { uid: 998, gid: 998, comment: STORE_USER_COMMENT, home: '/data/backup', shell: '/usr/sbin/nologin', groups: [] });
  assert.equal(s.availableBytes, 1073741824);
  assert.equal(preparedRefusal(want, s), undefined);
  assert.match(preparedRefusal(want, storeRead({ ...prepared, password: 'locked' })) ?? '', /password field of kind "locked"/);
  assert.match(preparedRefusal(want, storeRead({ ...prepared, dir: 'root:root 755' })) ?? '', /\/data\/backup is root:root 755/);
  assert.equal(sftpRefusal('backup', 'subsystem sftp internal-sftp'), undefined);
  assert.equal(sftpRefusal('backup', 'subsystem sftp /usr/lib/openssh/sftp-server\nforcecommand internal-sftp'), undefined);
  assert.match(sftpRefusal('backup', 'subsystem sftp /usr/lib/openssh/sftp-server') ?? '', /ForceCommand internal-sftp/);
});

test('the store: whose account or home it would take over is refused from the first read, naming the field', () => {
  const ours = `rear:x:997:997:${STORE_USER_COMMENT}:/srv/rear:/usr/sbin/nologin`;
  const w = (user: string, path = '/srv/rear', expectedBytes?: number) => ({ user, path, authorizedKeys: [], expectedBytes });
  const rows: [string, ReturnType<typeof w>, StoreState, RegExp | undefined][] = [
    ['a new account', w('rear'), storeRead({}), undefined],
    ['our own account, a second run', w('rear'), storeRead({ user: ours }), undefined],
    ["the worker's login", w('rbops'), storeRead({ user: 'rbops:x:1001:1001::/home/rbops:/bin/sh' }), /^user: rbops is the account the worker logs in/],
    ['uid 0 under another name', w('toor'), storeRead({ user: 'toor:x:0:0::/root:/usr/sbin/nologin' }), /^user: toor has uid 0/],
    [
      'an administrator',
      w('ops'),
      storeRead({ user: 'ops:x:1002:1002::/srv/ops:/usr/sbin/nologin', groups: 'ops sudo' }),
      /^user: ops is in sudo: an administrator/,
    ],
    [
      'a login shell we did not give',
      w('alice'),
      storeRead({ user: 'alice:x:1003:1003::/home/alice:/bin/bash' }),
      /^user: alice exists with the login shell \/bin\/bash/,
    ],
    [
      "Debian's own backup account",
      w('backup'),
      storeRead({ user: 'backup:x:34:34:backup:/var/backups:/usr/sbin/nologin' }),
      /^user: backup is an existing system account \(uid 34/,
    ],
    ["another account's home", w('rear', '/home/rbops/rear'), storeRead({}), /^path: \/home\/rbops\/rear is inside the home of rbops/],
    [
      'not enough room for the nodes',
      w('rear', '/srv/rear', 2 ** 31),
      storeRead({ df: 2 ** 30 }),
      /^path: 1073741824 bytes free where \/srv\/rear is, the nodes' backups need 2147483648/,
    ],
    ['enough room', w('rear', '/srv/rear', 2 ** 29), storeRead({ df: 2 ** 30 }), undefined],
  ];
  for (const [what, want, s, says] of rows) {
    const why = targetRefusal(want, s);
    if (says) assert.match(why ?? '(accepted)', says, what);
    else assert.equal(why, undefined, what);
  }
});

// ---- rearBackup's parsers and its record ----

const result = (stdout: string): CommandResult => ({
  host: 'controller-0',
  argv: [],
  exitCode: 0,
  durationMs: 1,
  startedAt: '2026-11-29T06:00:00.000Z',
  stdoutTail: stdout,
  stderrTail: '',
  stdoutBytes: stdout.length,
  stderrBytes: 0,
  stdoutSha256: '',
  auditRef: '',
  reattached: false,
});

test('rearBackup: rear dump must name the store, the measured files make the record', () => {
  const dump = parseDump([
    result('  OUTPUT_URL="sftp://backup:@undercloud-0/data/backup/controller-0/"\n  BACKUP_URL="sshfs://backup@undercloud-0/data/backup/"\nOUTPUT=ISO\n'),
    result('Relax-and-Recover 2.7 / 2022-07-13\n'),
  ]);
  assert.equal(dump.version, '2.7');
  assert.equal(dump.urls.length, 2);
  assert.equal(dumpRefusal(seed, dump), undefined);
  assert.match(dumpRefusal({ store: 'other-store', path: '/data/backup' }, dump) ?? '', /does not show the store's URLs/);
  assert.match(dumpRefusal(seed, parseDump([result(''), result('')])) ?? '', /\(none\)/);

  const files = parseMeasure(`rear-controller-0.iso 52428800 ${sha}\nbackup.tar.gz 1024 ${sha}\n`);
  const m = { files, at: '2026-11-29T06:00:00.000Z' };
  assert.equal(measuredRefusal('undercloud-0', '/data/backup/controller-0', 'controller-0', m), undefined);
  assert.match(
    measuredRefusal('undercloud-0', '/data/backup/controller-0', 'controller-0', {
      files: parseMeasure('missing rear-controller-0.iso\nmissing backup.tar.gz'),
      at: m.at,
    }) ?? '',
    /rear-controller-0\.iso and backup\.tar\.gz missing or empty in undercloud-0:\/data\/backup\/controller-0/,
  );
  const r = backupRecord('controller-0', m, dump.version, { workflowId: 'w', runId: 'r' });
  assert.deepEqual(
    Object.keys(r),
    ['host', 'iso', 'backup', 'rearVersion', 'unattended', 'recordedAt', 'createdAt', 'location', 'workflowId', 'runId'],
    'the shape rearControllerRecovery reads',
  );
  assert.equal(recordRefusal(r, target), undefined, "rearControllerRecovery accepts rearBackup's record");
  assert.deepEqual(r.iso, { file: 'rear-controller-0.iso', bytes: 52428800, sha256: sha });

  assert.deepEqual(parseRootKey(`${KEY.split(' ').slice(0, 2).join(' ')}\nrescue-ssh\n`), { key: KEY.split(' ').slice(0, 2).join(' '), rescueSsh: true });
  assert.equal(rootKeyRefusal('controller-0', parseRootKey(`${KEY.split(' ').slice(0, 2).join(' ')}\nno-rescue-ssh`)), undefined);
  assert.match(rootKeyRefusal('controller-0', parseRootKey('\nno-rescue-ssh')) ?? '', /no public key read from controller-0/);
});

// ---- issue 19: per-family installs, kept backups, the store's measurement, recovery's archive check ----

test("the packages and the install command are chosen per family (RHEL: dnf/yum and the seed's set)", () => {
  const debian = parseTools('family debian\ninstaller apt-get\nfirmware bios\nselinux disabled\nrear\ncpio\n');
  assert.deepEqual(installCommands(debian), [
    { argv: ['apt-get', 'install', '-y', '--no-install-recommends', 'rear', 'cpio'], env: { DEBIAN_FRONTEND: 'noninteractive' } },
  ]);
  const rhel = parseTools('family rhel\ninstaller dnf\nfirmware bios\nselinux enforcing\nrear\ngenisoimage\nsyslinux\n');
  assert.deepEqual(installCommands(rhel), [
    { argv: ['dnf', 'install', '-y', 'rear', 'genisoimage', 'syslinux'] },
    { argv: ['setsebool', '-P', 'virt_use_fusefs', '1'] },
  ]);
  const centos7 = parseTools('family rhel\ninstaller yum\nfirmware bios\nselinux disabled\nrear\n');
  assert.deepEqual(installCommands(centos7), [{ argv: ['yum', 'install', '-y', 'rear'] }], 'no SELinux, no boolean');
  assert.deepEqual(installCommands({ ...rhel, missing: [] }), [], 'nothing missing, nothing run');
  assert.deepEqual(REAR_PACKAGES_RHEL, ['rear', 'genisoimage', 'syslinux', 'lftp', 'fuse-sshfs']);
  assert.match(toolsRefusal('c0', parseTools('family unknown\n'), false) ?? '', /neither Debian- nor RHEL-family/);
  const uefi = parseTools('family debian\ninstaller apt-get\nfirmware efi\nselinux disabled\n');
  assert.match(toolsRefusal('c0', uefi, true) ?? '', /^unattended: c0 boots with UEFI.*BIOS ISOLINUX menu/);
  assert.equal(toolsRefusal('c0', uefi, false), undefined);
  // The script itself on this (Debian) machine: the family, and only Debian's names checked.
  const here = parseTools(
    execFileSync('sh', ['workflows/rear/scripts/check-tools.sh', 'dash', 'no-such-package-x', '--', 'genisoimage'], { encoding: 'utf8' }),
  );
  assert.equal(here.family, 'debian');
  assert.deepEqual(here.missing, ['no-such-package-x']);
});

test('rearBackup on the store: the previous backup is moved aside, never overwritten; pruning keeps the newest', () => {
  const base = mkdtempSync(join(tmpdir(), 'rear-keep-'));
  const dir = join(base, 'controller-0');
  const kept = join(base, 'controller-0.kept');
  const sh = (script: string, ...args: string[]) => execFileSync('sh', [`workflows/rear/scripts/${script}`, ...args], { encoding: 'utf8' }).trim();
  assert.deepEqual(parsePrevious(sh('previous-backup.sh', dir, 'rear-controller-0.iso', 'backup.tar.gz')).files, [], 'no directory yet');
  assert.equal(sh('keep-previous.sh', dir, kept, 'rear-controller-0.iso', 'backup.tar.gz'), 'kept none');
  const stamps = ['2026-11-27T06:00:00Z', '2026-11-28T06:00:00Z', '2026-11-29T06:00:00Z'];
  for (const at of stamps) {
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'rear-controller-0.iso'), `iso of ${at}`);
    writeFileSync(join(dir, 'backup.tar.gz'), `archive of ${at}`);
    writeFileSync(join(dir, 'runbook-record.json'), JSON.stringify({ recordedAt: at, backup: { sha256: 'cd'.repeat(32) } }));
    execFileSync('touch', ['-d', at, join(dir, 'backup.tar.gz')]);
    const p = parsePrevious(sh('previous-backup.sh', dir, 'rear-controller-0.iso', 'backup.tar.gz'));
    assert.deepEqual(p.files, ['rear-controller-0.iso', 'backup.tar.gz', 'runbook-record.json']);
    assert.equal(p.recordedAt, at);
    const moved = sh('keep-previous.sh', dir, kept, 'rear-controller-0.iso', 'backup.tar.gz');
    assert.equal(moved, `kept ${kept}/${at.replace(/:/g, '-')}`);
    assert.equal(execFileSync('cat', [`${moved.slice(5)}/backup.tar.gz`], { encoding: 'utf8' }), `archive of ${at}`, 'moved, byte for byte');
  }
  assert.equal(sh('prune-kept.sh', kept, '2'), `pruned ${kept}/2026-11-27T06-00-00Z`);
  assert.deepEqual(execFileSync('ls', [kept], { encoding: 'utf8' }).trim().split('\n'), ['2026-11-28T06-00-00Z', '2026-11-29T06-00-00Z']);
  assert.equal(sh('prune-kept.sh', kept, '2'), '', 'nothing more to prune');
});

test("the store's measurement: a truncated archive and an ISO without a boot record are refused", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rear-measure-'));
  // A real gzip'd tar, and an ISO-9660 volume with an El Torito boot record (sector 17), both made here.
  writeFileSync(join(dir, 'f'), 'x'.repeat(100_000));
  execFileSync('tar', ['-czf', join(dir, 'backup.tar.gz'), '-C', dir, 'f']);
  const iso = Buffer.alloc(2048 * 18);
  iso.write('\u0000CD001\u0001EL TORITO SPECIFICATION', 2048 * 17, 'latin1');
  writeFileSync(join(dir, 'rear-controller-0.iso'), iso);
  const measured = (): Measured => {
    const out = execFileSync('sh', ['workflows/rear/scripts/measure.sh', dir, 'rear-controller-0.iso', 'backup.tar.gz'], { encoding: 'utf8' });
    return { files: parseMeasure(out), checks: parseChecks(out), at: '2026-11-29T06:00:00.000Z' };
  };
  const good = measured();
  assert.deepEqual(good.checks, { 'rear-controller-0.iso': 'ok', 'backup.tar.gz': 'ok' });
  assert.equal(measuredRefusal('s', dir, 'controller-0', good), undefined);
  const record = backupRecord('controller-0', good, '2.7', { workflowId: 'w', runId: 'r' });
  assert.equal(storedRefusal(record, dir, good.files, good.checks), undefined, 'recovery accepts what the backup recorded');

  // A later, failed backup truncated the archive: the backup refuses it, and so does recovery's preflight.
  const whole = execFileSync('cat', [join(dir, 'backup.tar.gz')]);
  writeFileSync(join(dir, 'backup.tar.gz'), whole.subarray(0, Math.floor(whole.length / 2)));
  const truncated = measured();
  assert.match(measuredRefusal('s', dir, 'controller-0', truncated) ?? '', /backup\.tar\.gz does not list to its end \(tar -tzf\)/);
  assert.match(
    storedRefusal(record, dir, truncated.files, truncated.checks) ?? '',
    /backup\.tar\.gz is \d+ bytes, sha256 .*the backup record says \d+ bytes.*refused/,
  );
  writeFileSync(join(dir, 'rear-controller-0.iso'), Buffer.alloc(2048 * 18));
  assert.match(
    measuredRefusal('s', dir, 'controller-0', { ...measured(), checks: { ...measured().checks, 'backup.tar.gz': 'ok' } }) ?? '',
    /no El Torito boot record/,
  );
});

test('recovery: the record must carry the archive, and how the ISO was built must match the mode', () => {
  assert.match(recordRefusal(rec({ backup: { file: 'backup.tar.gz', sha256: 'x', bytes: 1 } }), target) ?? '', /no valid sha256 and size for the archive/);
  assert.match(recordRefusal(rec({ backup: { file: 'backup.tar.gz', sha256: sha, bytes: 0 } }), target) ?? '', /no valid sha256 and size for the archive/);
  assert.match(recordRefusal(rec({ unattended: true }), target) ?? '', /built for unattended recovery.*mode "manual" would say otherwise/);
  assert.match(recordRefusal(rec({ unattended: false }), { ...target, mode: 'unattended' }) ?? '', /built for manual recovery/);
  assert.equal(recordRefusal(rec({ unattended: true }), { ...target, mode: 'unattended' }), undefined);
  assert.equal(recordRefusal(rec(), { ...target, mode: 'unattended' }), undefined, 'an older record without the field');
  const uefi = SEED_DOMAIN.replace('<os>', "<os firmware='efi'>").replace("<serial type='pty'/>", "<serial type='pty'><log file='/var/log/c0.log'/></serial>");
  assert.match(domainRefusal(state(uefi), { ...target, mode: 'unattended' }) ?? '', /^mode: controller-0 boots with UEFI.*BIOS guests only/);
  assert.equal(domainRefusal(state(uefi), target), undefined, 'manual mode works on UEFI');
});

// ---- rearRecoveryDrill ----

const DRILL = {
  name: 'controller-0-drill',
  uuid: '0f6a1c2e-1111-4222-8333-944455556666',
  prefix: '/img/controller-0-drill.run1.disk',
  description: 'runbooks-drill:run1',
};

test("the drill's copy: another machine beside the original (name, UUID, empty disks, no cdroms, its own serial log and SSH forward)", () => {
  const original = labDomainXml(lab, { ...LAB_DOMAINS[0]!, sshForwardPort: 2222 }).replace(
    '<devices>',
    "<devices>\n<disk type='file' device='cdrom'><source file='/img/old.iso'/><target dev='sda' bus='sata'/><readonly/></disk>\n<graphics type='vnc' port='5901' autoport='no' passwd='s3cret'/>\n<interface type='user'><mac address='52:54:00:aa:bb:cc'/></interface>",
  );
  const d = drillDefinition(original, { ...DRILL, sshPort: 2299 });
  const f = domainFacts(d.xml);
  assert.equal(f.name, 'controller-0-drill');
  assert.equal(f.uuid, DRILL.uuid);
  assert.deepEqual(f.cdroms, [], 'no cdrom of the original (its ISO, an empty drive) comes along');
  assert.deepEqual(d.disks, [{ target: 'vda', source: join(lab.images, 'controller-0.qcow2'), path: `${DRILL.prefix}.vda.qcow2` }]);
  assert.match(d.xml, new RegExp(`<source file="${DRILL.prefix}.vda.qcow2"/>`));
  assert.doesNotMatch(d.xml, /controller-0\.qcow2/, "the original's disk is nowhere in the copy");
  assert.equal(f.serialLog, `${DRILL.prefix}.serial.log`);
  assert.match(d.xml, /hostfwd=tcp:127\.0\.0\.1:2299-:22/);
  assert.doesNotMatch(d.xml, /:2222-/, "the original's forward would clash");
  assert.doesNotMatch(d.xml, /52:54:00:aa:bb:cc/, 'libvirt gives the copy a new MAC');
  assert.match(d.xml, /<graphics type="vnc" autoport="yes" passwd="s3cret"\/>/, 'a free port, the same password');
  assert.match(d.xml, /<description>runbooks-drill:run1<\/description>/);
  // The rescue definition of the copy boots the ISO first on q35's SATA, with libvirt's rules.
  const r = rescueDefinition(d.xml, ISO, '/img/key.iso');
  assert.equal(domainFacts(r.xml).firstBoot, `cdrom:${ISO}`);
  assert.equal(domainFacts(r.xml).name, 'controller-0-drill');
  // Without a port the forward goes: the copy must not take the original's.
  assert.doesNotMatch(drillDefinition(original, DRILL).xml, /hostfwd/);
});

test('the drill refuses a copy that would share something with the original, and a backup nobody could recover unattended', () => {
  const bridged = SEED_DOMAIN.replace(
    '<devices>',
    "<devices><interface type='bridge'><source bridge='br-ctlplane'/><mac address='52:54:00:01:02:03'/></interface>",
  );
  assert.throws(() => drillDefinition(bridged, DRILL), /network: the domain's bridge NIC would put the copy on the original's network/);
  const isolated = drillDefinition(bridged, { ...DRILL, network: 'drill-net' }).xml;
  assert.match(isolated, /<interface type="network"><source network="drill-net"\/><\/interface>/);
  for (const [what, xml] of [
    ['hostdev', SEED_DOMAIN.replace('<devices>', "<devices><hostdev mode='subsystem' type='pci'/>")],
    ['filesystem', SEED_DOMAIN.replace('<devices>', "<devices><filesystem type='mount'><source dir='/srv'/><target dir='srv'/></filesystem>")],
  ] as const)
    assert.throws(() => drillDefinition(xml, DRILL), new RegExp(`<${what}>: a copy would share it`), what);
  assert.throws(() => drillDefinition(SEED_DOMAIN.replace("<serial type='pty'/>", ''), DRILL), /no serial console/);
  assert.throws(() => drillDefinition(SEED_DOMAIN.replace(/<disk[\s\S]*<\/disk>/, ''), DRILL), /no disk/);
  assert.ok(drillDefinition(SEED_DOMAIN, DRILL).xml.includes('log file="/img/controller-0-drill.run1.disk.serial.log"'), 'a pty serial gets a log');
  assert.equal(drillRefusal(rec({ unattended: true }), 'controller-0-drill', 'controller-0'), undefined);
  assert.match(
    drillRefusal(rec({ unattended: false }), 'controller-0-drill', 'controller-0') ?? '',
    /built for manual recovery: a drill needs one that runs rear recover by itself/,
  );
  assert.match(drillRefusal(rec(), 'controller-0-drill', 'controller-0') ?? '', /not recorded as unattended/);
  assert.match(drillRefusal(rec({ unattended: true }), 'controller-0', 'controller-0') ?? '', /^name: /);
});

// ---- issue 19: the recovered machine is the one backed up (identity in the signed record) ----

test('identity.sh: host name, machine-id, boot id, host keys and the sha256 of the named files, as the record keeps them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rear-identity-'));
  writeFileSync(join(dir, 'marker'), 'before the backup\n');
  const out = execFileSync('sh', ['workflows/rear/scripts/identity.sh', join(dir, 'marker'), join(dir, 'absent')], { encoding: 'utf8' });
  const id = parseIdentity(out);
  assert.equal(id.hostname, execFileSync('uname', ['-n'], { encoding: 'utf8' }).trim());
  assert.equal(id.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.equal(id.files[join(dir, 'marker')], createHash('sha256').update('before the backup\n').digest('hex'));
  assert.equal(id.files[join(dir, 'absent')], null, 'a file that is not there is recorded as absent, not skipped');
  // The keys as sshd's .pub files hold them, comments dropped, sorted: the order of the glob does not matter.
  const keys = parseIdentity('host-key ssh-rsa BBBB\nhost-key ssh-ed25519 AAAA\n').hostKeys;
  assert.deepEqual(keys, ['ssh-ed25519 AAAA', 'ssh-rsa BBBB']);
});

test('the recovered machine must match the record: host name, machine-id, a new boot, every host key, every file', () => {
  const recorded = {
    ...parseIdentity(
      [
        'hostname controller-0',
        `machine-id ${'1f'.repeat(16)}`,
        'boot-id 0b7f7a36-0000-4000-8000-000000000001',
        'host-key ssh-ed25519 AAAAC3Nza1',
        'host-key ecdsa-sha2-nistp256 AAAAE2Vj2',
        `file ${sha} /etc/passwd`,
        'missing /etc/never',
      ].join('\n'),
    ),
    sshKey: 'ssh-ed25519 AAAAC3Nza1',
  };
  assert.equal(identityReadRefusal('controller-0', recorded), undefined);
  assert.match(identityReadRefusal('controller-0', { ...recorded, machineId: '' }) ?? '', /no valid \/etc\/machine-id/);
  assert.match(identityReadRefusal('controller-0', { ...recorded, sshKey: undefined }) ?? '', /no pinned host key/);
  const same = { ...recorded, bootId: '0b7f7a36-0000-4000-8000-000000000002' };
  assert.equal(identityRefusal('controller-0', recorded, same), undefined);
  assert.deepEqual(identityMatch('controller-0', recorded, same), { hostname: 'controller-0', machineId: '1f'.repeat(16), hostKeys: 2, files: 2 });
  const refusals: [Partial<typeof same>, RegExp][] = [
    [{ hostname: 'controller-1' }, /calls itself "controller-1", the backup was of "controller-0"/],
    [
      { sshKey: 'ssh-ed25519 AAAAOTHERKEY' },
      /answered with ssh-ed25519 …AAAAOTHERKEY \(pinned in the inventory\); the backup recorded ssh-ed25519 …AAAAC3Nza1/,
    ],
    [{ machineId: '2e'.repeat(16) }, /machine-id 2e2e.*the backup recorded 1f1f/],
    [{ bootId: recorded.bootId }, /still on the boot the backup was taken in/],
    [{ hostKeys: ['ssh-ed25519 AAAAC3Nza1'] }, /lacks the recorded host key ecdsa-sha2-nistp256/],
    [{ hostKeys: [...recorded.hostKeys, 'ssh-rsa AAAAB3Nz'] }, /has a host key the backup did not: ssh-rsa/],
    [{ files: { '/etc/passwd': 'cd'.repeat(32), '/etc/never': null } }, /\/etc\/passwd on the recovered machine has sha256 cdcdcd/],
    [{ files: { '/etc/passwd': null, '/etc/never': null } }, /\/etc\/passwd on the recovered machine is missing/],
    [{ files: { '/etc/passwd': sha, '/etc/never': sha } }, /\/etc\/never .* the backup recorded no such file/],
    [{ files: { '/etc/passwd': sha } }, /\/etc\/never was not measured/],
  ];
  for (const [change, why] of refusals) assert.match(identityRefusal('controller-0', recorded, { ...same, ...change }) ?? 'accepted', why);
  // A record written before identities: only the host name can be compared, and the output says so.
  assert.equal(identityRefusal('controller-0', undefined, same), undefined);
  assert.match(identityRefusal('controller-0', undefined, { ...same, hostname: 'other' }) ?? '', /the backup was of "controller-0"/);
  assert.match(identityMatch('controller-0', undefined, same).notRecorded ?? '', /only the host name was compared/);
  // The drill sees the copy only through its forward: the keys offered must be recorded ones.
  assert.equal(scannedKeysRefusal('controller-0-drill', recorded, ['ssh-ed25519 AAAAC3Nza1']), undefined);
  assert.match(scannedKeysRefusal('controller-0-drill', recorded, ['ssh-ed25519 OTHER']) ?? '', /offers a host key the backup did not record/);
  assert.match(scannedKeysRefusal('controller-0-drill', recorded, []) ?? '', /offered no host key/);
  assert.match(scannedKeysRefusal('controller-0-drill', recorded, ['ecdsa-sha2-nistp256 AAAAE2Vj2']) ?? '', /does not offer the recorded host key ssh-ed25519/);
});

test('the record carries the identity it was given, and records before it keep their shape', () => {
  const m = { files: parseMeasure(`rear-controller-0.iso 52428800 ${sha}\nbackup.tar.gz 1024 ${sha}\n`), at: '2026-12-04T06:00:00.000Z' };
  const id = { ...parseIdentity(`hostname controller-0\nmachine-id ${'1f'.repeat(16)}\nboot-id b\nhost-key ssh-ed25519 AAAA\n`), sshKey: 'ssh-ed25519 AAAA' };
  assert.deepEqual(backupRecord('controller-0', m, '2.7', { workflowId: 'w', runId: 'r' }, true, id).identity, id);
  assert.equal('identity' in backupRecord('controller-0', m, '2.7', { workflowId: 'w', runId: 'r' }, true), false);
  assert.deepEqual(RearBackupInput().parse({ nodes: ['controller-0'], store: 'undercloud-0', requestedBy: 'alice' }).verifyFiles, DEFAULT_VERIFY_FILES);
  for (const bad of [['etc/passwd'], ['/etc/../shadow'], ['/etc/'], ['/etc/passwd', '/etc/passwd'], ["/etc/pass'wd"]])
    assert.equal(
      RearBackupInput().safeParse({ nodes: ['controller-0'], store: 'undercloud-0', verifyFiles: bad, requestedBy: 'alice' }).error?.issues[0]?.path[0],
      'verifyFiles',
      JSON.stringify(bad),
    );
});
