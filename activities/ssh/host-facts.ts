// hostFacts: what a host is, read over SSH in one round trip. Proves the whole path end to end.
import { ApplicationFailure } from '@temporalio/common';
import type { SshPool } from './ssh.js';

export interface HostFacts {
  host: string;
  hostname: string;
  osRelease: Record<string, string>;
  kernel: string;
  uptimeSeconds: number;
  disks: { mount: string; sizeBytes: number; freeBytes: number; usePercent: number }[];
}

// Sections are separated by marker lines so one exec answers everything; df -P gives one line per mount.
const FACTS_SCRIPT = [
  'echo @@hostname; hostname',
  'echo @@os; cat /etc/os-release',
  'echo @@kernel; uname -r',
  'echo @@uptime; cat /proc/uptime',
  'echo @@df; df -P -B1 / /var',
].join('; ');

export function parseFacts(host: string, text: string): HostFacts {
  const sections = new Map<string, string[]>();
  let cur = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('@@')) sections.set((cur = line.slice(2)), []);
    else if (cur && line.trim()) sections.get(cur)!.push(line);
  }
  const osRelease: Record<string, string> = {};
  for (const l of sections.get('os') ?? []) {
    const m = /^([A-Z_]+)=(.*)$/.exec(l);
    if (m) osRelease[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  const disks = (sections.get('df') ?? []).slice(1).map((l) => {
    const f = l.trim().split(/\s+/);
    return { mount: f[5] ?? '', sizeBytes: Number(f[1]), freeBytes: Number(f[3]), usePercent: Number((f[4] ?? '').replace('%', '')) };
  });
  return {
    host,
    hostname: sections.get('hostname')?.[0]?.trim() ?? '',
    osRelease,
    kernel: sections.get('kernel')?.[0]?.trim() ?? '',
    uptimeSeconds: Number(sections.get('uptime')?.[0]?.split(' ')[0] ?? NaN),
    disks,
  };
}

export function makeHostFacts(ssh: SshPool) {
  return async function collectHostFacts({ host }: { host: string }): Promise<HostFacts> {
    let out = '';
    let err = '';
    const r = await ssh.exec(host, FACTS_SCRIPT, { stdout: (b) => (out += b), stderr: (b) => (err += b) });
    if (r.code !== 0) throw ApplicationFailure.create({ message: `${host}: facts script exit ${r.code}: ${err.trim()}`, type: 'CommandFailed' });
    return parseFacts(host, out);
  };
}
