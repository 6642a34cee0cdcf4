// The readiness probe is a real OpenSSH login with the pinned host key, not a port check: it proves key
// auth, the account, the namespace setup and the host key in one go.
import { execa } from 'execa';
import { LAB_USER, type HostLayout, type LabLayout } from './layout.js';

export interface SshTarget {
  address: string;
  port: number;
  identityFile: string;
  knownHosts: string;
}

export function sshArgs(t: SshTarget, command: string): string[] {
  return [
    // -F none: root's own ~/.ssh/config must not change how the lab is reached.
    '-F',
    'none',
    '-i',
    t.identityFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${t.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(t.port),
    `${LAB_USER}@${t.address}`,
    command,
  ];
}

export function labTarget(lab: LabLayout, host: HostLayout, port: number): SshTarget {
  return { address: host.address, port, identityFile: lab.clientKey, knownHosts: lab.knownHosts };
}

export async function runSsh(t: SshTarget, command: string, timeoutMs = 15000) {
  return execa('ssh', sshArgs(t, command), { reject: false, stdin: 'ignore', timeout: timeoutMs });
}

export async function sshAnswers(t: SshTarget): Promise<boolean> {
  return (await runSsh(t, 'true', 10000)).exitCode === 0;
}

/** known_hosts names a host as "addr" on port 22 and "[addr]:port" otherwise. */
export function knownHostsLine(address: string, port: number, publicKey: string): string {
  return `${port === 22 ? address : `[${address}]:${port}`} ${publicKey}`;
}
