// The OpenStack runbooks' decisions, without a cloud: which server states allow a snapshot, a move or a
// rebuild (nova's and osc's rules), what a rebuild waits for, when a name counts as taken, what proves a
// copy and its upload, what makes a new server done, the virt-sysprep command of each procedure, and that
// every plan line of a cloud call is made from its request. Rows come from the CERN page (seeds/003) where
// it names a case: `--wait` after a rebuild, os=LINUX, the move's limited operation set and --delete paths.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderRunnable } from '../../workflows/engine/plan.js';
import { cloudCall } from '../../workflows/openstack/cloud-calls.js';
import { MOVE_OPERATIONS, sysprepArgv } from '../../workflows/openstack/image-steps.js';
import { imageProperties, newServerName, propertiesOf } from '../../workflows/openstack/input-fields.js';
import { OpenstackSnapshotInput, resyncsClock } from '../../workflows/openstack/snapshot.js';
import { osHintsOf } from '../../activities/openstack/api.js';
import {
  copyRefusal,
  imageNameRefusal,
  keptFlavor,
  moveRefusal,
  newServerRefusal,
  parseCopyChecksum,
  rebuildRefusal,
  rebuildTarget,
  rollbackImageRefusal,
  serverNameRefusal,
  snapshotNameRefusal,
  snapshotRefusal,
  uploadRefusal,
  windowsCloneRefusal,
  windowsMoveRefusal,
  windowsResyncRefusal,
  windowsSigns,
  type ImageView,
  type ServerView,
} from '../../workflows/openstack/rules.js';

const server = (over: Partial<ServerView> = {}): ServerView => ({
  id: 'b1c2d3e4-0000-4000-8000-000000000001',
  name: 'my-vm',
  status: 'ACTIVE',
  taskState: null,
  imageId: 'img-base',
  addresses: ['10.0.0.5'],
  flavor: 'm2.small',
  keyName: 'lxplus',
  madeBy: null,
  ...over,
});
const image = (over: Partial<ImageView> = {}): ImageView => ({
  id: 'img-1',
  name: 'my-snapshot',
  status: 'active',
  diskFormat: 'qcow2',
  size: 1024,
  checksum: 'd41d8cd98f00b204e9800998ecf8427e',
  hashAlgo: 'sha512',
  hashValue: 'a'.repeat(128),
  madeBy: null,
  ...over,
});

/** Each row: the server's state, and the words the refusal must contain (undefined: allowed). */
type StateRow = [status: string, task: string | null, imageId: string | null, refused: RegExp | undefined];

describe('which server states allow what', () => {
  const cases: { rule: (s: ServerView) => string | undefined; what: string; rows: StateRow[] }[] = [
    {
      what: 'a snapshot (openstack server image create)',
      rule: snapshotRefusal,
      rows: [
        ['ACTIVE', null, 'img-base', undefined],
        ['SHUTOFF', null, 'img-base', undefined],
        ['PAUSED', null, 'img-base', undefined],
        ['SUSPENDED', null, 'img-base', undefined],
        ['ACTIVE', 'image_snapshot', 'img-base', /is busy \(status ACTIVE, task image_snapshot\): nova would refuse a snapshot now/],
        ['ERROR', null, 'img-base', /is ERROR: a snapshot needs ACTIVE, SHUTOFF, PAUSED, SUSPENDED/],
        ['BUILD', null, 'img-base', /is BUILD/],
        ['ACTIVE', null, null, /boots from a Cinder volume \(no image\).*snapshot its volume with cinder instead/],
      ],
    },
    {
      what: 'a move or rename (stop, snapshot, delete)',
      rule: moveRefusal,
      rows: [
        ['ACTIVE', null, 'img-base', undefined],
        ['SHUTOFF', null, 'img-base', undefined],
        ['PAUSED', null, 'img-base', /transitional state \(status PAUSED, task none\): a move is refused until it is ACTIVE or SHUTOFF/],
        ['ACTIVE', 'migrating', 'img-base', /transitional state \(status ACTIVE, task migrating\)/],
        ['ACTIVE', null, null, /Cinder volume.*move its volume with cinder instead/],
      ],
    },
    {
      what: 'a rebuild (openstack server rebuild)',
      rule: rebuildRefusal,
      rows: [
        ['ACTIVE', null, 'img-base', undefined],
        ['SHUTOFF', null, 'img-base', undefined],
        ['ERROR', null, 'img-base', undefined],
        [
          'REBUILD',
          'rebuilding',
          'img-base',
          /transitional state \(status REBUILD, task rebuilding\): a rebuild is refused until it is ACTIVE, SHUTOFF or ERROR/,
        ],
        ['SUSPENDED', null, 'img-base', /status SUSPENDED/],
        ['ACTIVE', null, null, /Cinder volume.*--reimage-boot-volume, which this runbook does not do/],
      ],
    },
  ];
  for (const c of cases) {
    for (const [status, taskState, imageId, refused] of c.rows) {
      test(`${c.what}: ${status}, task ${taskState ?? 'none'}, ${imageId ? 'image-backed' : 'volume-backed'}`, () => {
        const why = c.rule(server({ status, taskState, imageId }));
        if (refused) assert.match(why ?? '(allowed)', refused);
        else assert.equal(why, undefined);
      });
    }
  }
});

test('a rebuild waits for the state osc --wait accepts: SHUTOFF only when the server was off', () => {
  const rows: [before: string, target: string][] = [
    ['ACTIVE', 'ACTIVE'],
    ['SHUTOFF', 'SHUTOFF'],
    ['ERROR', 'ACTIVE'],
  ];
  for (const [before, target] of rows) assert.equal(rebuildTarget(server({ status: before })), target, before);
});

test('a rollback rebuilds only from an active image', () => {
  const rows: [status: string, refused: RegExp | undefined][] = [
    ['active', undefined],
    ['queued', /image my-snapshot \(img-1\) is queued, not active: nothing to rebuild from/],
    ['saving', /is saving, not active/],
    ['killed', /is killed, not active/],
    ['deactivated', /is deactivated, not active/],
  ];
  for (const [status, refused] of rows) {
    const why = rollbackImageRefusal(image({ status }));
    if (refused) assert.match(why ?? '(allowed)', refused, status);
    else assert.equal(why, undefined, status);
  }
});

describe('one image and one server per name', () => {
  const run = 'os-snap-1';
  const rows: [what: string, found: ImageView[], snapshot: RegExp | undefined, copy: RegExp | undefined][] = [
    ['a free name', [], undefined, undefined],
    ['this run made it (a retried create)', [image({ madeBy: run })], undefined, undefined],
    [
      'another run made it',
      [image({ id: 'img-9', madeBy: 'os-snap-0' })],
      /an image named my-snapshot already exists \(img-9, active, made by run os-snap-0\): choose another name or delete it first/,
      /cloud lab already has an image named my-snapshot \(img-9, active\): choose another name/,
    ],
    [
      'someone by hand, and this run',
      [image({ id: 'img-8', status: 'queued' }), image({ madeBy: run })],
      /already exists \(img-8, queued\): choose/,
      /\(img-8, queued\): choose/,
    ],
  ];
  for (const [what, found, snapshot, copy] of rows) {
    test(`image name: ${what}`, () => {
      const a = snapshotNameRefusal('my-snapshot', found, run);
      const b = imageNameRefusal('lab', 'my-snapshot', found, run);
      if (snapshot) assert.match(a ?? '(free)', snapshot);
      else assert.equal(a, undefined);
      if (copy) assert.match(b ?? '(free)', copy);
      else assert.equal(b, undefined);
    });
  }

  test('server name: the source may hold the name a move within one project keeps', () => {
    const source = server({ id: 'src', name: 'app-1' });
    const rows: [what: string, found: ServerView[], sourceId: string | undefined, refused: RegExp | undefined][] = [
      ['free', [], undefined, undefined],
      ['ours from a retried create', [server({ id: 'new', name: 'app-1', madeBy: run })], undefined, undefined],
      ['the source, moving within the project', [source], 'src', undefined],
      ['the source, moving to another project', [source], undefined, /cloud lab already has a server named app-1 \(src, ACTIVE\)/],
      ['another server', [source, server({ id: 'other', name: 'app-1', status: 'SHUTOFF' })], 'src', /named app-1 \(other, SHUTOFF\)$/],
    ];
    for (const [what, found, sourceId, refused] of rows) {
      const why = serverNameRefusal('lab', 'app-1', found, run, sourceId);
      if (refused) assert.match(why ?? '(free)', refused, what);
      else assert.equal(why, undefined, what);
    }
  });
});

describe('what proves the copy and its upload', () => {
  // `qemu-img info --output=json` and `sha512sum` as they print on the image host.
  const info = JSON.stringify({ 'virtual-size': 10737418240, filename: 'clean.qcow2', format: 'qcow2', 'actual-size': 1490944 });
  const sha = 'c'.repeat(128);

  test('the checksum step reads qemu-img info and sha512sum', () => {
    assert.deepEqual(parseCopyChecksum(info, `${sha}  /var/tmp/runbooks/wf/clean.qcow2\n`), { sha512: sha, bytes: 1490944, virtualSize: 10737418240 });
    assert.deepEqual(parseCopyChecksum(JSON.stringify({ 'virtual-size': 1 }), ''), { sha512: '', bytes: 0, virtualSize: 1 });
  });

  test('CERN: "check the snapshot is correct (i.e. it seems a reasonable size)"', () => {
    const rows: [virtualSize: number, sha512: string, downloaded: number, refused: RegExp | undefined][] = [
      [10737418240, sha, 1490944, undefined],
      [10737418240, '', 1490944, /sha512sum printed no checksum/],
      [10737418240, 'sha512sum: clean.qcow2: No such file', 1490944, /no checksum/],
      [0, sha, 1490944, /the image looks empty \(virtual size 0, snapshot 1490944 bytes\)/],
      [10737418240, sha, 0, /looks empty \(virtual size 10737418240, snapshot 0 bytes\)/],
    ];
    for (const [virtualSize, sha512, downloaded, refused] of rows) {
      const why = copyRefusal({ sha512, bytes: 1, virtualSize }, downloaded);
      if (refused) assert.match(why ?? '(proved)', refused);
      else assert.equal(why, undefined);
    }
  });

  test('the upload is the copy only when glance computed the same sha512', () => {
    const where = { cloud: 'lab2', host: 'cloud-client' };
    const rows: [what: string, im: ImageView, refused: RegExp | undefined][] = [
      ['the same sha512', image({ hashValue: sha }), undefined],
      ['another sha512', image({ hashValue: 'd'.repeat(128) }), /in cloud lab2 has sha512 d{16}…, the copy on cloud-client c{16}…: the upload is damaged/],
      ['md5 only (an old glance)', image({ hashAlgo: null, hashValue: null }), /glance reports no sha512 for image img-1 \(none\): cannot prove the upload/],
      ['sha256', image({ hashAlgo: 'sha256', hashValue: 'e'.repeat(64) }), /no sha512 .*\(sha256\)/],
    ];
    for (const [what, im, refused] of rows) {
      const why = uploadRefusal(im, sha, where);
      if (refused) assert.match(why ?? '(proved)', refused, what);
      else assert.equal(why, undefined, what);
    }
  });
});

test('a new server is done when it has its name, is ACTIVE on the new image and has an address', () => {
  const rows: [what: string, s: Partial<ServerView>, refused: RegExp | undefined][] = [
    ['as asked', {}, undefined],
    ['another name', { name: 'my-new-vm-1' }, /is named my-new-vm-1$/],
    ['still building', { status: 'BUILD' }, /is BUILD$/],
    ['on another image', { imageId: 'img-base' }, /boots img-base, not the new image$/],
    ['no address', { addresses: [] }, /has no address$/],
    ['all wrong', { status: 'ERROR', addresses: [] }, /\) is ERROR, has no address$/],
  ];
  for (const [what, over, refused] of rows) {
    const why = newServerRefusal(server({ name: 'my-new-vm', imageId: 'img-clean', ...over }), 'my-new-vm', 'img-clean');
    if (refused) assert.match(why ?? '(done)', refused, what);
    else assert.equal(why, undefined, what);
  }
});

test('a move or rename keeps the flavor unless given one', () => {
  assert.equal(keptFlavor(undefined, server({ flavor: 'm2.small' }), 'source'), 'm2.small');
  assert.equal(keptFlavor('m2.medium', server({ flavor: 'm2.small' }), 'source'), 'm2.medium');
  assert.equal(keptFlavor(undefined, server({ flavor: null }), 'server'), '(the server shows no flavor: give flavor)');
});

describe('virt-sysprep as each procedure runs it (CERN page)', () => {
  const workspace = {
    host: 'cloud-client',
    dir: '/var/tmp/runbooks/wf',
    sysprepEnv: { LIBGUESTFS_BACKEND: 'direct' },
    deletePaths: ['/etc/krb5.keytab', '/var/lib/cern-private-cloud-addons/state'],
    sysprepTimeoutSeconds: 3600,
  };
  const file = '/var/tmp/runbooks/wf/clean.qcow2';
  const deletes = ['--delete', '/etc/krb5.keytab', '--delete', '/var/lib/cern-private-cloud-addons/state'];
  const rows: [procedure: string, o: Parameters<typeof sysprepArgv>[2], argv: string[]][] = [
    // "virt-sysprep --add /tmp/my-snapshot.qcow2 --delete /etc/krb5.keytab --delete …/state": the default operations.
    ['clone', { amend: false, operations: null }, ['virt-sysprep', '--format', 'qcow2', '--add', file, ...deletes]],
    // "--enable udev-persistent-net,net-hwaddr", and customize so that --delete still applies.
    [
      'move',
      { amend: false, operations: MOVE_OPERATIONS },
      ['virt-sysprep', '--format', 'qcow2', '--add', file, '--enable', 'udev-persistent-net,net-hwaddr,customize', ...deletes],
    ],
    // "Sysprep the snapshot to clean the hostname information", then the new one.
    [
      'rename',
      { amend: false, operations: [...MOVE_OPERATIONS, 'net-hostname'], extra: ['--hostname', 'my-new-vm'] },
      [
        'virt-sysprep',
        '--format',
        'qcow2',
        '--add',
        file,
        '--enable',
        'udev-persistent-net,net-hwaddr,customize,net-hostname',
        ...deletes,
        '--hostname',
        'my-new-vm',
      ],
    ],
  ];
  for (const [procedure, o, argv] of rows) test(procedure, () => assert.deepEqual(sysprepArgv(file, workspace, o), argv));
});

describe('Windows guests (CERN: "for the Windows VMs please open a request ticket via SNOW"; "landb-os=WINDOWS")', () => {
  /** What the cloud said about the guest, and whether it is Windows. */
  const rows: [hints: Record<string, string> | undefined, windows: string[]][] = [
    [undefined, []],
    [{ 'image os_type': 'linux', 'image os_distro': 'centos', 'image name': 'CC7 - x86_64 [2020-06-01]' }, []],
    [{ 'image os_type': 'windows' }, ['image os_type=windows']],
    [{ 'image os_distro': 'Windows' }, ['image os_distro=Windows']],
    [{ 'server landb-os': 'WINDOWS' }, ['server landb-os=WINDOWS']],
    [{ 'image os': 'WINDOWS' }, ['image os=WINDOWS']],
    [{ 'image name': 'Windows Server 2022 - x86_64' }, ['image name=Windows Server 2022 - x86_64']],
    [{ 'image name': 'win2019-base' }, ['image name=win2019-base']],
    // Words that merely contain "win" are not Windows.
    [{ 'image name': 'winter-app-2024' }, []],
    [{ 'image name': 'darwin-build' }, []],
  ];
  for (const [osHints, windows] of rows) {
    test(`${JSON.stringify(osHints ?? {})} → ${windows.length ? 'Windows' : 'not Windows'}`, () => {
      assert.deepEqual(windowsSigns(server(osHints ? { osHints } : {})), windows);
    });
  }
  const win = server({ osHints: { 'image os_type': 'windows', 'image name': 'Windows Server 2022' } });

  test('a move or a rename of a Windows VM is refused, naming the SNOW ticket and what showed it', () => {
    for (const what of ['move', 'rename'] as const) {
      assert.match(
        windowsMoveRefusal(win, what) ?? '(allowed)',
        new RegExp(
          `looks like a Windows VM \\(image os_type=windows, image name=Windows Server 2022\\): the CERN page's ${what} procedure is for Linux VMs only; for a Windows VM open a request ticket via SNOW`,
        ),
      );
      assert.equal(windowsMoveRefusal(server(), what), undefined);
    }
  });
  test('a Windows clone needs landb-os=WINDOWS on its image (the default os=LINUX is refused)', () => {
    assert.match(
      windowsCloneRefusal(win, propertiesOf({})) ?? '(allowed)',
      /landb-os=WINDOWS .*give properties \{"landb-os": "WINDOWS"\} instead of the default os=LINUX/,
    );
    assert.equal(windowsCloneRefusal(win, { 'landb-os': 'WINDOWS' }), undefined);
    assert.equal(windowsCloneRefusal(server(), propertiesOf({})), undefined);
  });
  test('a snapshot of a Windows VM cannot resync its clock over SSH: refused unless resyncClock is false', () => {
    assert.match(windowsResyncRefusal(win) ?? '(allowed)', /cannot step a Windows clock; give resyncClock: false and run "w32tm \/resync"/);
    assert.equal(windowsResyncRefusal(server()), undefined);
  });
  test('the OS keys are read from nova metadata and glance properties, nothing else', () => {
    assert.deepEqual(osHintsOf('image', { os_type: 'windows', os_distro: 'windows', hw_disk_bus: 'virtio', size: 3 }), {
      osHints: { 'image os_type': 'windows', 'image os_distro': 'windows' },
    });
    assert.deepEqual(osHintsOf('server', { 'landb-os': 'WINDOWS', runbook_workflow_id: 'x' }), { osHints: { 'server landb-os': 'WINDOWS' } });
    assert.deepEqual(osHintsOf('server', {}), {});
  });
});

test('the clock resync after a snapshot is the default (the CERN page); only resyncClock: false skips it', () => {
  const parse = (extra: Record<string, unknown>) =>
    OpenstackSnapshotInput().parse({ cloud: 'lab', server: 'web-1', name: 'ref', requestedBy: 'alice', ...extra });
  assert.equal(resyncsClock(parse({})), true);
  assert.equal(resyncsClock(parse({ resyncClock: true })), true);
  assert.equal(resyncsClock(parse({ resyncClock: false })), false);
});

test('input: os=LINUX by default (LanDB), reserved and unsafe properties refused, host names only for new servers', () => {
  assert.deepEqual(propertiesOf({}), { os: 'LINUX' });
  assert.deepEqual(propertiesOf({ properties: { 'landb-os': 'WINDOWS' } }), { 'landb-os': 'WINDOWS' });
  const props: [Record<string, string>, boolean][] = [
    [{ os: 'LINUX' }, true],
    [{ 'landb-os': 'WINDOWS' }, true],
    [{ os: 'LINUX;reboot' }, false],
    [{ runbook_workflow_id: 'forged' }, false],
    [{ OS: 'LINUX' }, false],
  ];
  for (const [p, ok] of props) assert.equal(imageProperties().safeParse(p).success, ok, JSON.stringify(p));
  const names: [string, boolean][] = [
    ['my-new-vm', true],
    ['db-2', true],
    ['DB_2', false],
    ['-vm', false],
    ['a'.repeat(64), false],
  ];
  for (const [n, ok] of names) assert.equal(newServerName().safeParse(n).success, ok, n);
});

test('every plan line of a cloud call is made from its request: each value it sends is shown', () => {
  const wf = 'os-move-1';
  const calls = [
    cloudCall('openstackServer', { cloud: 'lab', server: 'my-vm' }),
    cloudCall('openstackServersNamed', { cloud: 'lab2', name: 'my-new-vm' }),
    cloudCall('openstackImage', { cloud: 'lab', image: 'my-snapshot' }),
    cloudCall('openstackImagesNamed', { cloud: 'lab', name: 'my-snapshot' }),
    cloudCall('openstackCreateImage', { cloud: 'lab', serverId: 'srv-1', name: 'my-snapshot', workflowId: wf }),
    cloudCall('openstackWaitImage', { cloud: 'lab', imageId: 'img-1' }),
    cloudCall('openstackRebuild', { cloud: 'lab', serverId: 'srv-1', imageId: 'img-1' }),
    cloudCall('openstackStopServer', { cloud: 'lab', serverId: 'srv-1' }),
    cloudCall('openstackWaitServer', { cloud: 'lab', serverId: 'srv-1', until: 'SHUTOFF', imageId: 'img-1' }),
    cloudCall('openstackCreateServer', {
      cloud: 'lab2',
      name: 'my-new-vm',
      imageId: 'img-2',
      flavor: 'm2.small',
      keyName: 'lxplus',
      network: 'net-1',
      workflowId: wf,
    }),
    cloudCall('openstackDeleteServer', { cloud: 'lab', serverId: 'srv-1', name: 'my-vm' }),
    cloudCall('openstackImageWorkspace', { host: 'cloud-client', workflowId: wf }),
    cloudCall('openstackDownloadImage', { cloud: 'lab', imageId: 'img-1', host: 'cloud-client', path: '/var/tmp/runbooks/wf/snapshot.qcow2' }),
    cloudCall('openstackUploadImage', {
      cloud: 'lab2',
      host: 'cloud-client',
      path: '/var/tmp/runbooks/wf/clean.qcow2',
      name: 'my-cleaned-snapshot',
      properties: { os: 'LINUX' },
      workflowId: wf,
    }),
    cloudCall('openstackWaitDnsGone', { name: 'my-vm' }),
  ];
  const leaves = (v: unknown): string[] => (typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(leaves) : []);
  for (const c of calls) {
    const shown = (c.shows ?? []).join('\n');
    assert.ok(shown, `${c.activity} has plan lines`);
    for (const value of leaves(c.request)) assert.ok(shown.includes(value), `${c.activity} shows ${value}: ${shown}`);
    // The engine adds the exact request after them, so the approver also sees what the fingerprint covers.
    const rendered = renderRunnable(c);
    assert.match(rendered.at(-1)!, new RegExp(`^worker: activity ${c.activity} \\{`));
  }
  assert.deepEqual(cloudCall('openstackWaitServer', { cloud: 'lab', serverId: 'srv-1', until: 'ACTIVE', imageId: 'img-1' }).shows, [
    'nova GET /servers/srv-1 (cloud lab) until ACTIVE with no task on image img-1; ERROR fails',
  ]);
});
