// The SNO family's decisions, without a lab: the seed's "Platform Rollback" table (rows quoted from
// /work/shared/seeds/004_*.txt), which stages a recovery runs, the backup's checks, and that the standalone
// upgrade-recovery.sh uses the runbook's lists and wait loops. Inputs are what the node prints
// (`rpm-ostree status --json`, `ostree admin status`, the estimate script's lines), written out here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandResult } from '../../workflows/engine/commands.js';
import {
  backupComplete,
  filesystemWarning,
  enoughSpace,
  MiB,
  noRecoveryInProgress,
  parseEntries,
  parseEstimate,
  parseMount,
} from '../../workflows/sno/backup.js';
import {
  bootedAsPlanned,
  bootedId,
  bootedPinnedInAdminStatus,
  classifyPlatform,
  deploymentId,
  onlyBootedPinned,
  parseDeployments,
  pinnedIsBooted,
  pinnedIsRollback,
  planRollback,
  readyToPin,
  refusalOf,
  undeployNote,
  type Deployment,
  type RollbackRow,
} from '../../workflows/sno/ostree.js';
import {
  CONTROL_PLANE_CONTAINERS,
  NODE_KUBECONFIG,
  parseProgress,
  recoveryScript,
  REDEPLOYED_OPERATORS,
  redeploymentReason,
  stagesToRun,
  waitForContainers,
  waitForRevisions,
} from '../../workflows/sno/recovery.js';

/** One deployment as rpm-ostree prints it: `staged` only when true, `pinned` always. */
interface Dep {
  version: string;
  booted?: boolean;
  pinned?: boolean;
  staged?: boolean;
}

const checksum = (version: string): string => version.replace(/\D/g, '').padEnd(64, 'a');

/** `rpm-ostree status --json` for these deployments, in boot order (as the lab's rpm-ostree prints it). */
function statusJson(ds: Dep[]): string {
  return JSON.stringify({
    deployments: ds.map((d) => ({
      id: `rhcos-${checksum(d.version)}.0`,
      osname: 'rhcos',
      checksum: checksum(d.version),
      serial: 0,
      booted: Boolean(d.booted),
      pinned: Boolean(d.pinned),
      unlocked: 'none',
      version: d.version,
      origin: `rhcos/${d.version.split('.').slice(0, 2).join('.')}`,
      ...(d.staged ? { staged: true } : {}),
    })),
  });
}

const deps = (ds: Dep[]): Deployment[] => parseDeployments(statusJson(ds));

describe('the seed\'s "Platform Rollback" table', () => {
  interface Row {
    /** The "Deployment Status" column, or what the table lacks. */
    status: string;
    deployments: Dep[];
    row: RollbackRow;
    /** The versions undeployed so the pinned one becomes "rollback". */
    undeploy: string[];
    rollback: boolean;
    refused: boolean;
  }
  const rows: Row[] = [
    {
      status: 'Single deployment, pinned',
      deployments: [{ version: '4.15.0', booted: true, pinned: true }],
      row: 'single-pinned',
      undeploy: [],
      rollback: false,
      refused: false,
    },
    {
      status: 'Standby deployment pinned, flagged as "rollback"',
      deployments: [
        { version: '4.16.0', booted: true },
        { version: '4.15.0', pinned: true },
      ],
      row: 'pinned-is-rollback',
      undeploy: [],
      rollback: true,
      refused: false,
    },
    {
      status: 'Multiple standby deployments, pinned deployment is not "rollback"',
      deployments: [{ version: '4.14.0', booted: true }, { version: '4.16.0' }, { version: '4.15.0', pinned: true }],
      row: 'pinned-behind-standbys',
      undeploy: ['4.16.0'],
      rollback: true,
      refused: false,
    },
    {
      status: 'Multiple standby deployments (two between), pinned deployment is not "rollback"',
      deployments: [
        { version: '4.17.0', booted: true },
        { version: '4.16.0' },
        { version: '4.16.1' },
        { version: '4.15.0', pinned: true },
        { version: '4.14.0' },
      ],
      row: 'pinned-behind-standbys',
      undeploy: ['4.16.0', '4.16.1'],
      rollback: true,
      refused: false,
    },
    {
      status: 'not in the table: the booted deployment is the pinned one (extra standbys are harmless)',
      deployments: [{ version: '4.15.0', booted: true, pinned: true }, { version: '4.14.0' }],
      row: 'booted-pinned',
      undeploy: [],
      rollback: false,
      refused: false,
    },
    {
      status: 'not in the table: no deployment pinned (the backup pin is gone)',
      deployments: [{ version: '4.16.0', booted: true }, { version: '4.15.0' }],
      row: 'no-pinned',
      undeploy: [],
      rollback: false,
      refused: true,
    },
    {
      status: 'not in the table: the pinned deployment is queued ahead of the booted one',
      deployments: [
        { version: '4.15.0', pinned: true },
        { version: '4.16.0', booted: true },
      ],
      row: 'pinned-pending',
      undeploy: [],
      rollback: false,
      refused: true,
    },
    {
      status: 'not in the table: a pending deployment ahead of the booted, pinned one (it boots next)',
      deployments: [{ version: '4.16.0' }, { version: '4.15.0', booted: true, pinned: true }],
      row: 'queued-ahead',
      undeploy: [],
      rollback: false,
      refused: true,
    },
    {
      status: 'not in the table: a staged deployment ahead of the booted, pinned one',
      deployments: [
        { version: '4.16.0', staged: true },
        { version: '4.15.0', booted: true, pinned: true },
      ],
      row: 'queued-ahead',
      undeploy: [],
      rollback: false,
      refused: true,
    },
    {
      status: 'not in the table: a staged deployment while the pinned standby is "rollback"',
      deployments: [
        { version: '4.17.0', staged: true },
        { version: '4.16.0', booted: true },
        { version: '4.15.0', pinned: true },
      ],
      row: 'queued-ahead',
      undeploy: [],
      rollback: false,
      refused: true,
    },
  ];
  for (const r of rows) {
    test(r.status, () => {
      const ds = deps(r.deployments);
      const plan = planRollback(ds);
      assert.equal(plan.row, r.row);
      assert.deepEqual(
        plan.undeploy.map((d) => d.version),
        r.undeploy,
      );
      assert.equal(plan.rollback, r.rollback);
      const platform = classifyPlatform(statusJson(r.deployments), 'b0d1e5f2-0000-4000-8000-000000000001\n');
      assert.equal(platform.bootId, 'b0d1e5f2-0000-4000-8000-000000000001');
      const refusal = refusalOf(platform);
      if (r.refused) assert.match(refusal ?? '', /4\.1\d\.0/, 'a refusal names the deployments it found');
      else assert.equal(refusal, undefined);
      if (r.rollback) {
        // After the undeploys the deployment right after the booted one is the pinned one: what the
        // check before `rpm-ostree rollback -r` asks.
        const gone = new Set(plan.undeploy.map(deploymentId));
        const after = ds.filter((d) => !gone.has(deploymentId(d))).map((d, index) => ({ ...d, index }));
        assert.equal(pinnedIsRollback(after), undefined);
        assert.equal(plan.pinned?.version, r.deployments.find((d) => d.pinned)?.version);
      }
    });
  }

  test('the rows the seed lists quote its words, so a gate shows which row applied', () => {
    for (const r of rows.slice(0, 3)) assert.ok(planRollback(deps(r.deployments)).says.startsWith(r.status), r.status);
  });

  test('the undeploy gate marks exactly the deployments between the booted and the pinned one', () => {
    const p = classifyPlatform(statusJson(rows[3]!.deployments), 'x');
    assert.deepEqual(
      undeployNote(p)
        .slice(2)
        .map((l) => l.slice(0, 8)),
      ['  keep  ', '  REMOVE', '  REMOVE', '  keep  ', '  keep  '],
    );
    assert.match(undeployNote(p)[0]!, /delete the ClusterGroupUpgrade on the hub/, 'the CGU comes first (procedures.md C4)');
  });

  test('no booted deployment is not a row: the status cannot be read', () => {
    assert.throws(() => planRollback(deps([{ version: '4.15.0', pinned: true }])), /no booted deployment/);
  });
});

describe('the checks around the rollback', () => {
  test('before the rollback: "rollback" must be the pinned deployment', () => {
    assert.equal(
      pinnedIsRollback(
        deps([
          { version: '4.16.0', booted: true },
          { version: '4.15.0', pinned: true },
        ]),
      ),
      undefined,
    );
    assert.match(
      pinnedIsRollback(deps([{ version: '4.14.0', booted: true }, { version: '4.16.0' }, { version: '4.15.0', pinned: true }]))!,
      /not the pinned one/,
    );
  });
  test('after the rollback reboot: the pinned deployment is booted', () => {
    assert.equal(pinnedIsBooted(deps([{ version: '4.15.0', booted: true, pinned: true }, { version: '4.16.0' }])), undefined);
    assert.match(
      pinnedIsBooted(
        deps([
          { version: '4.16.0', booted: true },
          { version: '4.15.0', pinned: true },
        ]),
      )!,
      /booted deployment is not the pinned one: 0: 4\.16\.0/,
    );
  });
});

describe('parsing rpm-ostree status --json', () => {
  test('staged is only present when true; the list order is the boot order', () => {
    const ds = deps([
      { version: '4.16.0', staged: true },
      { version: '4.15.0', booted: true },
    ]);
    assert.deepEqual(
      ds.map((d) => [d.index, d.version, d.staged, d.booted]),
      [
        [0, '4.16.0', true, false],
        [1, '4.15.0', false, true],
      ],
    );
    assert.equal(deploymentId(ds[1]!), `${checksum('4.15.0')}.0`);
  });
  test('a document without deployments is refused', () => {
    assert.throws(() => parseDeployments('{"transaction": null}'), /no "deployments" list/);
  });
});

describe('the backup: before it pins and after', () => {
  const rows: { case: string; deployments: Dep[]; refused?: RegExp }[] = [
    { case: 'booted with a standby', deployments: [{ version: '4.15.0', booted: true }, { version: '4.14.0' }] },
    {
      case: 'an upgrade is staged',
      deployments: [
        { version: '4.16.0', staged: true },
        { version: '4.15.0', booted: true },
      ],
      refused: /staged for the next boot.*4\.16\.0/,
    },
    { case: 'nothing booted', deployments: [{ version: '4.15.0' }], refused: /no booted deployment/ },
  ];
  for (const r of rows) {
    test(`ready to pin: ${r.case}`, () => {
      const why = readyToPin(deps(r.deployments));
      if (r.refused) assert.match(why ?? '', r.refused);
      else assert.equal(why, undefined);
    });
  }
  test("after the undeploy and pin: one deployment, booted and pinned (the table's first row)", () => {
    assert.equal(onlyBootedPinned(deps([{ version: '4.15.0', booted: true, pinned: true }])), undefined);
    assert.match(onlyBootedPinned(deps([{ version: '4.15.0', booted: true, pinned: true }, { version: '4.14.0' }]))!, /expected one booted, pinned/);
    assert.match(onlyBootedPinned(deps([{ version: '4.15.0', booted: true }]))!, /expected one booted, pinned/);
  });

  const adminStatus = (bootedPinned: boolean): string =>
    [
      `* rhcos ${checksum('4.15.0')}.0`,
      '    Version: 4.15.0',
      ...(bootedPinned ? ['    Pinned: yes'] : []),
      '    origin refspec: rhcos/4.15',
      `  rhcos ${checksum('4.14.0')}.0 (rollback)`,
      '    Version: 4.14.0',
      '    Pinned: yes',
      '    origin refspec: rhcos/4.14',
    ].join('\n');
  test('ostree admin status: the pin must be on the booted entry, not on another one', () => {
    assert.equal(bootedPinnedInAdminStatus(adminStatus(true)), true);
    assert.equal(bootedPinnedInAdminStatus(adminStatus(false)), false);
  });

  test('the backup is complete only with the etcd snapshot, the static pod resources and the booted deployment pinned', () => {
    const cluster = ['snapshot_2026-12-03_084500.db', 'static_kuberesources_2026-12-03_084500.tar.gz'];
    assert.equal(backupComplete({ cluster, ostree: adminStatus(true) }, '/var/recovery'), undefined);
    assert.match(backupComplete({ cluster: cluster.slice(1), ostree: adminStatus(true) }, '/var/recovery')!, /lacks the etcd snapshot/);
    assert.match(backupComplete({ cluster: cluster.slice(0, 1), ostree: adminStatus(true) }, '/var/recovery')!, /static pod resources/);
    assert.match(backupComplete({ cluster, ostree: adminStatus(false) }, '/var/recovery')!, /does not show the booted deployment pinned/);
  });
});

/** A command's result as the engine hands it to a parser (only stdout matters to these parsers). */
const out = (stdout: string): CommandResult[] => [
  {
    host: 'sno-node',
    argv: [],
    exitCode: 0,
    durationMs: 1,
    startedAt: '2026-12-03T08:45:00Z',
    stdoutTail: stdout,
    stderrTail: '',
    stdoutBytes: stdout.length,
    stderrBytes: 0,
    stdoutSha256: '',
    auditRef: '',
    reattached: false,
  },
];

describe('the backup: space, filesystem, leftovers', () => {
  const estimateOutput = (available: number): string =>
    [
      `static-pod-resources ${40 * MiB}`,
      `etcd-db ${100 * MiB}`,
      `usr-local ${10 * MiB}`,
      `kubelet ${30 * MiB}`,
      `etc ${20 * MiB}`,
      `available ${available}`,
    ].join('\n');
  const rows = [
    { case: 'room for the estimate and the margin', available: 210 * MiB, marginMiB: 10, fits: true },
    { case: 'exactly the estimate plus the margin', available: 200 * MiB + 10 * MiB, marginMiB: 10, fits: true },
    { case: 'room for the estimate, not the margin', available: 205 * MiB, marginMiB: 10, fits: false },
    { case: 'TALM default margin (10 GiB) on a small partition', available: 1024 * MiB, marginMiB: 10_240, fits: false },
  ];
  for (const r of rows) {
    test(`space: ${r.case}`, () => {
      const e = parseEstimate(out(estimateOutput(r.available)), r.marginMiB);
      assert.equal(e.estimate, 200 * MiB);
      assert.equal(e.parts.available, undefined, 'the free space is not part of the estimate');
      const why = enoughSpace(e, '/var/recovery');
      if (r.fits) assert.equal(why, undefined);
      else
        assert.match(
          why!,
          /^not enough space on \/var\/recovery: .* the backup needs 200\.0 MiB \(static-pod-resources 40\.0 MiB, etcd-db 100\.0 MiB.*; nothing was deleted$/,
        );
    });
  }

  test('the recovery directory must be its own mount point', () => {
    assert.equal(filesystemWarning(parseMount(out('/var/recovery tmpfs tmpfs\n')), '/var/recovery'), undefined);
    assert.match(
      filesystemWarning(parseMount(out('/var /dev/sda4 xfs\n')), '/var/recovery')!,
      /not a dedicated filesystem: it is on \/var's \(\/dev\/sda4, xfs\); the seed highly recommends a recovery partition/,
    );
  });

  test('leftovers are listed with their kind and size; a progress file means a recovery is under way', () => {
    const es = parseEntries(out('d 4096 cluster\nf 12 leftover from last time\n'));
    assert.deepEqual(es, [
      { kind: 'd', bytes: 4096, name: 'cluster' },
      { kind: 'f', bytes: 12, name: 'leftover from last time' },
    ]);
    assert.equal(noRecoveryInProgress(es, '/var/recovery'), undefined);
    assert.match(noRecoveryInProgress(parseEntries(out('f 14 progress\n')), '/var/recovery')!, /a recovery is in progress/);
    assert.deepEqual(parseEntries(out('')), []);
  });
});

describe('which stages a recovery runs (upgrade-recovery.sh: a recorded stage is not run again)', () => {
  const rows = [
    { progress: '', restarts: 0, expect: { platform: true, restoreFiles: true, restoreCluster: true } },
    { progress: 'started\n', restarts: 0, expect: { platform: false, restoreFiles: true, restoreCluster: true } },
    { progress: 'started\nrestore_files\n', restarts: 0, expect: { platform: false, restoreFiles: false, restoreCluster: true } },
    { progress: 'started\nrestore_files\nrestore_cluster\n', restarts: 0, expect: { platform: false, restoreFiles: false, restoreCluster: false } },
    { progress: 'started\nrestore_files\n', restarts: 1, expect: { platform: false, restoreFiles: true, restoreCluster: true } },
    { progress: 'garbage\n', restarts: 0, expect: { platform: true, restoreFiles: true, restoreCluster: true } },
  ];
  for (const r of rows) {
    test(`progress ${JSON.stringify(r.progress)}, ${r.restarts} restarts`, () => {
      assert.deepEqual(stagesToRun(parseProgress(r.progress), r.restarts), r.expect);
    });
  }
});

describe('the standalone upgrade-recovery.sh does what the runbook does', () => {
  const script = recoveryScript();
  const valueOf = (name: string): string => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(script)?.[1] ?? '';
  /** A host script's program: its text after the shebang and the header comment. */
  const program = (text: string): string =>
    text
      .split('\n')
      .filter((l, k, ls) => ls.slice(0, k + 1).some((x) => x !== '' && !x.startsWith('#')))
      .join('\n')
      .trimEnd();
  const functionBody = (name: string): string => new RegExp(`^${name}\\(\\) \\{\\n([\\s\\S]*?)\\n\\}$`, 'm').exec(script)?.[1] ?? '';

  test('the same lists and kubeconfig', () => {
    assert.deepEqual(valueOf('CONTROL_PLANE_CONTAINERS').split(' '), CONTROL_PLANE_CONTAINERS);
    assert.deepEqual(valueOf('REDEPLOYED_OPERATORS').split(' '), REDEPLOYED_OPERATORS);
    assert.equal(valueOf('NODE_KUBECONFIG'), NODE_KUBECONFIG);
  });
  test("the same wait loops as the runbook's steps", () => {
    const containers = waitForContainers('sno-node', {}).argv[2]!;
    const revisions = waitForRevisions('sno-node').argv[2]!;
    assert.ok(program(containers).startsWith('for pair in'), program(containers));
    assert.equal(functionBody('wait_for_containers'), program(containers));
    assert.equal(functionBody('wait_for_revisions'), program(revisions));
  });
  test('the same stages and progress file entries', () => {
    for (const stage of ['restore_files', 'restore_cluster']) assert.match(script, new RegExp(`record ${stage}\\n`));
    assert.match(script, /echo started > "\$DIR\/progress"/);
  });
  test('--restart clears the progress of the directory given, wherever --dir comes', () => {
    assert.ok(script.indexOf('rm -f "$DIR/progress"') > script.indexOf('esac'), 'the progress file is removed only after every option was read');
  });
});

test('the redeployment reason is the run start, compact and in UTC', () => {
  assert.equal(redeploymentReason(new Date('2026-12-03T08:45:07.123Z')), 'recovery-20261203T084507Z');
});

describe('after every reboot the node must be on the deployment the plan expects', () => {
  const ds = deps([{ version: '4.16.0' }, { version: '4.15.0', booted: true, pinned: true }]);
  test('the same deployment booted again passes', () => assert.equal(bootedAsPlanned(ds, bootedId(ds)), undefined));
  test('the pending one booted instead is refused, naming both', () => {
    const after = deps([
      { version: '4.16.0', booted: true },
      { version: '4.15.0', pinned: true },
    ]);
    assert.match(bootedAsPlanned(after, bootedId(ds)) ?? '', /came back on 0: 4\.16\.0.*not on/);
  });
});
