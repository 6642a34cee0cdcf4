// The lab's Single Node OpenShift stand-in, reached as sno-node (opt-in: `npm run lab -- up --with sno`,
// or snoUp() from a test). What is real: an ostree sysroot made with Debian's ostree (commits 4.14, 4.15
// and 4.16 of a tiny tree with a kernel and os-release), booted for real in the sense ostree checks it
// (the node's sshd and every command run chrooted into the default deployment, with /sysroot, /boot,
// /run/ostree-booted), a real etcd whose keys play the cluster state, real /etc, /usr/local and
// /var/lib/kubelet trees, and a dedicated recovery filesystem (a tmpfs) on /var/recovery.
// What stands in (scripts/lab/sno-node/usrlocal-bin): rpm-ostree (libostree through python3-gi),
// systemctl/kubelet/crio/crictl/oc, cluster-backup.sh/cluster-restore.sh, and the reboot (the node's
// namespaces end and the supervisor boots the default deployment again, with a new boot id).
import { spawn } from 'node:child_process';
import { chmod, chown, copyFile, cp, mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { LAB_USER_HOME, labLayout, validateLabOptions, writeFileIfChanged, type HostLayout, type LabLayout, type LabOptions } from './layout.js';
import { ensureLoginUser } from './login-user.js';
import { hostPid, renderEtcHosts, renderSshdConfig, stopHost } from './sshd-host.js';
import { labTarget, runSsh, sshAnswers, sshArgs } from './ssh-client.js';
import { isAlive, removeFile } from './owned-process.js';
import { tcpAccepts } from './tcp-port.js';
import { waitFor } from './wait.js';

export const SNO_VERSIONS = ['4.14', '4.15', '4.16'] as const;
export type SnoVersion = (typeof SNO_VERSIONS)[number];
const OS = 'rhcos';
const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../scripts/lab/sno-node');

/** Host files a booted node needs in its own /etc (accounts, sudo, PAM, the dynamic linker); no secrets of the machine. */
const ETC_FROM_MACHINE = [
  'passwd',
  'group',
  'shadow',
  'gshadow',
  'sudoers',
  'sudoers.d',
  'pam.d',
  'pam.conf',
  'security',
  'nsswitch.conf',
  'host.conf',
  'login.defs',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'alternatives',
  'localtime',
  'environment',
  'default',
  'sudo.conf',
  'sudo_logsrvd.conf',
];

export interface SnoLayout {
  dir: string;
  sysroot: string;
  stateVar: string;
  host: HostLayout;
}

export function snoLayout(lab: LabLayout): SnoLayout {
  const host = lab.hosts.find((h) => h.name === 'sno-node');
  if (!host) throw new Error('the lab has no sno-node host');
  const dir = path.join(lab.dir, 'sno');
  const sysroot = path.join(dir, 'sysroot');
  return { dir, sysroot, stateVar: path.join(sysroot, 'ostree/deploy', OS, 'var'), host };
}

export interface SnoState {
  /** Deployed in this order (the last one deployed boots first, as after an upgrade). */
  deployments: SnoVersion[];
  /** Indexes (in `ostree admin status` order) to pin. */
  pin?: number[];
  /** Size of the recovery filesystem, e.g. '256m'. */
  recoverySize?: string;
}

/** An upgraded node: 4.15 booted, 4.14 its standby (what the pre-upgrade backup finds before the next upgrade). */
const DEFAULT_STATE: SnoState = { deployments: ['4.14', '4.15'], pin: [], recoverySize: '256m' };

/**
 * Makes sno-node the booted ostree node. With `state`, the node is rebuilt from scratch in that state
 * (a fresh sysroot, etcd, /etc): how tests set up each row of the rollback decision table.
 */
export async function snoUp(opts: LabOptions, state?: SnoState): Promise<void> {
  validateLabOptions(opts);
  const lab = labLayout(opts);
  const sno = snoLayout(lab);
  const exists = await stat(path.join(sno.sysroot, 'ostree/repo')).then(
    () => true,
    () => false,
  );
  if (!state && exists && (await snoRunning(lab, sno, opts.port))) return;
  await stopHost(sno.host);
  await stopSnoNode(lab.dir);
  if (state || !exists) await buildSysroot(lab, sno, state ?? DEFAULT_STATE, opts.port);
  await startNode(lab, sno, opts.port);
}

/**
 * Ends every boot of this lab's node: the supervisor's trap does so, but a supervisor that was SIGKILLed
 * leaves its unshare behind, and that holds the node's address. Called by `lab down` too.
 */
export async function stopSnoNode(labDir: string): Promise<void> {
  const marker = path.join(labDir, 'hosts/sno-node/sshd_config');
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (cmd[0] === 'unshare' && cmd.some((a) => a.endsWith('sno-node/boot.sh')) && cmd.includes(marker)) {
      try {
        process.kill(Number(e), 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

async function snoRunning(lab: LabLayout, sno: SnoLayout, port: number): Promise<boolean> {
  const pid = await hostPid(sno.host);
  if (pid === undefined) return false;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmd.includes('supervise.sh')) return false;
  return (await runSsh(labTarget(lab, sno.host, port), 'test -e /run/ostree-booted')).exitCode === 0;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function buildSysroot(lab: LabLayout, sno: SnoLayout, state: SnoState, port: number): Promise<void> {
  // Deployment directories are immutable (chattr +i): clear that before removing an old sysroot.
  await execa('chattr', ['-R', '-i', sno.dir], { reject: false, stdin: 'ignore' });
  await rm(sno.dir, { recursive: true, force: true });
  await mkdir(sno.sysroot, { recursive: true });
  await run('ostree', ['admin', 'init-fs', sno.sysroot]);
  await run('ostree', ['admin', 'os-init', `--sysroot=${sno.sysroot}`, OS]);
  const repo = path.join(sno.sysroot, 'ostree/repo');
  for (const v of SNO_VERSIONS) {
    const tree = path.join(sno.dir, 'trees', v);
    await makeTree(tree, v);
    // One ref per version: undeploy prunes commits no ref points to, and a later redeploy would fail.
    await run('ostree', [`--repo=${repo}`, 'commit', '-b', `${OS}/${v}`, '-s', `RHCOS ${v}`, `--add-metadata-string=version=${v}.0`, tree]);
  }
  await rm(path.join(sno.dir, 'trees'), { recursive: true, force: true });
  for (const v of state.deployments) {
    // --retain: outside a booted system ostree would keep only the new deployment and the previous default.
    await run('ostree', ['admin', 'deploy', '--retain', `--sysroot=${sno.sysroot}`, `--os=${OS}`, `${OS}/${v}`]);
  }
  for (const i of state.pin ?? []) await run('ostree', ['admin', 'pin', `--sysroot=${sno.sysroot}`, String(i)]);
  // Every deployment gets the node's /etc; an upgrade on the node merges it into the new one by itself.
  const deployRoot = path.join(sno.sysroot, 'ostree/deploy', OS, 'deploy');
  for (const d of (await readdir(deployRoot)).filter((d) => !d.endsWith('.origin'))) await seedEtc(path.join(deployRoot, d, 'etc'), sno, lab);
  await seedVar(sno);
  await writeFile(path.join(sno.dir, 'recovery-size'), `${state.recoverySize ?? DEFAULT_STATE.recoverySize}\n`);
  await writeNodeSshFiles(lab, sno, port);
}

async function makeTree(tree: string, v: string): Promise<void> {
  const kver = `5.14.0-${v.replace('.', '')}.el9.x86_64`;
  await mkdir(path.join(tree, 'usr/lib/modules', kver), { recursive: true });
  await writeFile(path.join(tree, 'usr/lib/modules', kver, 'vmlinuz'), `lab kernel ${kver}\n`);
  await writeFile(path.join(tree, 'usr/lib/modules', kver, 'initramfs.img'), `lab initramfs ${kver}\n`);
  await writeFile(
    path.join(tree, 'usr/lib/os-release'),
    `NAME="Red Hat Enterprise Linux CoreOS"\nID=rhcos\nVERSION_ID=${v}\nPRETTY_NAME="Red Hat Enterprise Linux CoreOS ${v} (lab)"\nOPENSHIFT_VERSION=${v}\n`,
  );
  await mkdir(path.join(tree, 'usr/etc/kubernetes'), { recursive: true });
  await writeFile(path.join(tree, 'usr/etc/machine-config-daemon-version'), `${v}.0\n`);
  // The booted layout: /ostree and the merged-/usr links like RHCOS, mount points for what boot.sh mounts.
  await run('ln', ['-s', 'sysroot/ostree', path.join(tree, 'ostree')]);
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) await run('ln', ['-s', `usr/${d}`, path.join(tree, d)]);
  for (const d of ['sysroot', 'boot', 'proc', 'run', 'dev', 'tmp', 'var', 'usr/local']) await mkdir(path.join(tree, d), { recursive: true });
}

async function seedEtc(etc: string, sno: SnoLayout, lab: LabLayout): Promise<void> {
  for (const f of ETC_FROM_MACHINE) {
    await cp(path.join('/etc', f), path.join(etc, f), { recursive: true, verbatimSymlinks: true }).catch(() => undefined);
  }
  const spr = path.join(etc, 'kubernetes/static-pod-resources');
  for (const [rel, text] of [
    ['etcd-pod-3/etcd-pod.yaml', 'kind: Pod\nmetadata: {name: etcd}\n'],
    ['kube-apiserver-pod-7/kube-apiserver-pod.yaml', 'kind: Pod\nmetadata: {name: kube-apiserver}\n'],
    ['kube-apiserver-certs/secrets/node-kubeconfigs/localhost.kubeconfig', 'apiVersion: v1\nkind: Config\n'],
    ['bin/etcdctl.sh', '#!/bin/sh\n'],
  ] as const) {
    await mkdir(path.dirname(path.join(spr, rel)), { recursive: true });
    await writeFile(path.join(spr, rel), text);
  }
  await mkdir(path.join(etc, 'kubernetes/manifests'), { recursive: true });
  await writeFile(path.join(etc, 'kubernetes/manifests/etcd-pod.yaml'), 'kind: Pod\nmetadata: {name: etcd}\n');
  await writeFile(path.join(etc, 'kubernetes/lab-etcd.env'), `NODE_IP=${sno.host.address}\n`);
  await writeFile(path.join(etc, 'hosts'), renderEtcHosts(lab, sno.host));
  await writeFile(path.join(etc, 'hostname'), 'sno-node\n');
}

async function seedVar(sno: SnoLayout): Promise<void> {
  const v = sno.stateVar;
  const bin = path.join(v, 'usrlocal/bin');
  await mkdir(bin, { recursive: true });
  for (const f of await readdir(path.join(SCRIPTS, 'usrlocal-bin'))) {
    await copyFile(path.join(SCRIPTS, 'usrlocal-bin', f), path.join(bin, f));
    await chmod(path.join(bin, f), 0o755);
  }
  for (const d of ['lib/kubelet/pods', 'lib/lab-systemd', 'log', 'lib/lab-power', 'tmp']) await mkdir(path.join(v, d), { recursive: true });
  await writeFile(path.join(v, 'lib/kubelet/config.yaml'), 'kind: KubeletConfiguration\n');
  await writeFile(path.join(v, 'lib/lab-systemd/kubelet.enabled'), '');
  await writeFile(path.join(v, 'log/lab-calls.log'), '');
  const user = await ensureLoginUser();
  // The node's /var is the stateroot's var, so /var/lib/runbooks-lab/rbops lives at <var>/lib/runbooks-lab/rbops.
  const home = path.join(v, path.relative('/var', LAB_USER_HOME));
  await mkdir(home, { recursive: true });
  await chown(home, user.uid, user.gid);
}

/** sshd inside the node sees /run/lab (a copy made at each boot), not the lab dir. */
async function writeNodeSshFiles(lab: LabLayout, sno: SnoLayout, port: number): Promise<void> {
  const config = renderSshdConfig(lab, sno.host, port)
    .split('\n')
    .map((l) =>
      l.startsWith('HostKey ')
        ? 'HostKey /run/lab/ssh_host_ed25519_key'
        : l.startsWith('PidFile ')
          ? 'PidFile none'
          : l.startsWith('AuthorizedKeysFile ')
            ? 'AuthorizedKeysFile /run/lab/authorized_keys'
            : l,
    )
    .join('\n');
  await writeFileIfChanged(path.join(sno.dir, 'sshd_config'), config, 0o644);
  await copyFile(sno.host.hostKey, path.join(sno.dir, 'ssh_host_ed25519_key'));
  await chmod(path.join(sno.dir, 'ssh_host_ed25519_key'), 0o600);
  await copyFile(lab.authorizedKeys, path.join(sno.dir, 'authorized_keys'));
  await writeFile(path.join(sno.dir, 'etc-hosts'), renderEtcHosts(lab, sno.host));
}

async function startNode(lab: LabLayout, sno: SnoLayout, port: number): Promise<void> {
  await writeNodeSshFiles(lab, sno, port);
  // A node just stopped takes a moment to release its address (its namespace is torn down asynchronously).
  await waitFor(`${sno.host.address}:${port} to be free for sno-node`, async () => !(await tcpAccepts(sno.host.address, port)), { timeoutMs: 15000 });
  await removeFile(sno.host.pidfile);
  const log = await open(path.join(sno.host.dir, 'node.log'), 'a', 0o644);
  let pid: number;
  try {
    // The supervisor's command line names the host's sshd_config, which is how `lab down` knows it is ours.
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', path.join(SCRIPTS, 'supervise.sh'), sno.host.sshdConfig, sno.dir], {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
    });
    child.unref();
  } finally {
    await log.close();
  }
  await writeFile(sno.host.pidfile, `${pid}\n`);
  await waitFor(
    'sno-node to boot and accept ssh',
    async () => {
      if (!(await isAlive(pid))) throw new Error(`sno-node's supervisor exited; see ${path.join(sno.host.dir, 'node.log')}`);
      return sshAnswers(labTarget(lab, sno.host, port));
    },
    { timeoutMs: 60000 },
  );
}

/** Runs a shell script on the booted node as root (for tests and the lab's own checks). */
export async function onSno(opts: LabOptions, script: string): Promise<string> {
  const lab = labLayout(opts);
  const r = await execa('ssh', sshArgs(labTarget(lab, snoLayout(lab).host, opts.port), 'sudo -n sh -s'), { reject: false, input: script, timeout: 60000 });
  if (r.exitCode !== 0) throw new Error(`sno-node: ${script}: ${r.stderr || r.stdout}`);
  return r.stdout;
}
