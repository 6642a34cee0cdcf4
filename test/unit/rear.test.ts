// The ReaR family's decisions, without a lab: local.conf as rearBackup renders it (read back by bash, as
// ReaR `source`s it), the libvirt rescue definition (the seed's edit of controller-0.xml), and the checks
// that refuse a wrong backup record, a domain already booting a rescue ISO, or a store that is not ready.
// Rows come from the ReaR seed page (/work/shared/seeds/002_*) where it has them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DomainState } from '../../activities/libvirt/libvirt.js';
import { cdromBus, domainFacts, DomainXmlError, normaliseDomainXml, rescueDefinition } from '../../activities/libvirt/libvirt-xml.js';
import { LAB_DOMAINS, labDomainXml, libvirtLayout } from '../../scripts/lab/libvirt.js';
import {
  backupRecord,
  dumpRefusal,
  measuredRefusal,
  parseDump,
  parseMeasure,
  parseRootKey,
  rearConfig,
  rootKeyRefusal,
  type BackupSettings,
} from '../../workflows/rear/backup-steps.js';
import type { CommandResult } from '../../workflows/engine/commands.js';
import { backupUrl, excludePattern, includePath, outputUrl, renderLocalConf, type RearConfig } from '../../workflows/rear/config.js';
import {
  domainRefusal,
  editedRefusal,
  fromDiskRefusal,
  recordRefusal,
  runFile,
  type RecordedBackup,
  type RecoveryTarget,
} from '../../workflows/rear/recovery-checks.js';
import { changesNeeded, parseStore, preparedRefusal, sftpRefusal, storePath, systemUser, type StoreState } from '../../workflows/rear/store.js';

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
  assert.match(text, /^SSH_UNPROTECTED_PRIVATE_KEYS='no'$/m);
  assert.match(text, /^ISO_DEFAULT='manual'$/m);
  assert.doesNotMatch(text, /ISO_RECOVER_MODE|BACKUP_ONLY_INCLUDE|KERNEL_FILE|BOOTLOADER/);
  assert.match(text, /rear-backup-1/, 'names the run that rendered it');
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
  ] as const)
    assert.equal(ok(storePath(), v), good, `store path ${v}`);
  for (const [v, good] of [
    ['backup', true],
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
  assert.deepEqual({ target: edit.target, bus: edit.bus, bootStyle: edit.bootStyle }, { target: 'hdc', bus: 'ide', bootStyle: 'os' }, "the seed's hdc on IDE");
  assert.equal(f.firstBoot, `cdrom:${ISO}`);
  assert.deepEqual(
    [...edit.xml.matchAll(/<(boot|bootmenu) ([^/]*)\/>/g)].map((m) => `${m[1]} ${m[2]}`),
    ['boot dev="cdrom"', 'boot dev="hd"', 'bootmenu enable="yes" timeout="3000"'],
  );
  assert.deepEqual(f.cdroms, [{ target: 'hdc', bus: 'ide', source: ISO, bootOrder: undefined }]);
  assert.equal(f.onReboot, 'destroy', "ReaR's own reboot after recover must not boot the ISO again");
  assert.equal(f.uuid, domainFacts(SEED_DOMAIN).uuid, 'the same domain');
  assert.equal(domainFacts(rescueDefinition(edit.xml, ISO).xml).cdroms.length, 1, 'editing again reuses the cdrom');
});

test("the rescue definition on the lab's domains: q35 gets SATA, per-device boot order moves the disk down", () => {
  const rows = LAB_DOMAINS.map((d) => ({ d, xml: labDomainXml(lab, d) }));
  const q35 = rows.find((r) => r.d.machine.includes('q35'))!;
  const perDevice = rows.find((r) => r.d.bootStyle === 'per-device')!;
  const a = rescueDefinition(q35.xml, ISO);
  assert.deepEqual([a.bus, a.target, a.bootStyle], ['sata', 'sda', q35.d.bootStyle === 'per-device' ? 'per-device' : 'os']);
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
  assert.equal(
    runFile('/var/lib/libvirt/images', 'controller-0', 'rear recovery/1', 'xml.bak'),
    '/var/lib/libvirt/images/controller-0.rear_recovery_1.xml.bak',
  );
});

// ---- rearPrepareStore's decisions ----

const storeRead = (parts: { user?: string; group?: string; password?: string; dir?: string; keys?: string[] }): StoreState =>
  parseStore(
    [
      '@user',
      parts.user ?? '',
      '@group',
      parts.group ?? '',
      '@password',
      parts.password ?? 'empty',
      '@dir',
      parts.dir ?? '',
      '@keys',
      ...(parts.keys ?? []),
      '@df',
      '1073741824',
    ].join('\n'),
  );
const KEY = `ssh-ed25519 ${'A'.repeat(68)} root@controller-0`;
const want = { user: 'backup', path: '/data/backup', authorizedKeys: [] as string[] };

test("the store: what it lacks decides the changes (the seed's useradd/chpasswd, made key-only)", () => {
  const prepared = { user: 'backup:x:998:998::/data/backup:/usr/sbin/nologin', group: 'backup:x:998:', password: 'none', dir: 'backup:backup 750' };
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
  assert.deepEqual(s.user, { uid: 998, gid: 998, home: '/data/backup', shell: '/usr/sbin/nologin' });
  assert.equal(s.availableBytes, 1073741824);
  assert.equal(preparedRefusal(want, s), undefined);
  assert.match(preparedRefusal(want, storeRead({ ...prepared, password: 'locked' })) ?? '', /password field of kind "locked"/);
  assert.match(preparedRefusal(want, storeRead({ ...prepared, dir: 'root:root 755' })) ?? '', /\/data\/backup is root:root 755/);
  assert.equal(sftpRefusal('backup', 'subsystem sftp internal-sftp'), undefined);
  assert.equal(sftpRefusal('backup', 'subsystem sftp /usr/lib/openssh/sftp-server\nforcecommand internal-sftp'), undefined);
  assert.match(sftpRefusal('backup', 'subsystem sftp /usr/lib/openssh/sftp-server') ?? '', /ForceCommand internal-sftp/);
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
    ['host', 'iso', 'backup', 'rearVersion', 'recordedAt', 'createdAt', 'location', 'workflowId', 'runId'],
    'the shape rearControllerRecovery reads',
  );
  assert.equal(recordRefusal(r, target), undefined, "rearControllerRecovery accepts rearBackup's record");
  assert.deepEqual(r.iso, { file: 'rear-controller-0.iso', bytes: 52428800, sha256: sha });

  assert.deepEqual(parseRootKey(`${KEY.split(' ').slice(0, 2).join(' ')}\nrescue-ssh\n`), { key: KEY.split(' ').slice(0, 2).join(' '), rescueSsh: true });
  assert.equal(rootKeyRefusal('controller-0', parseRootKey(`${KEY.split(' ').slice(0, 2).join(' ')}\nno-rescue-ssh`)), undefined);
  assert.match(rootKeyRefusal('controller-0', parseRootKey('\nno-rescue-ssh')) ?? '', /no public key read from controller-0/);
});
