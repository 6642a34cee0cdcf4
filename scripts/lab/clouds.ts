// The lab's two clouds for trying the openstack runbooks by hand (`npm start`, cloud-sim-cli): cloud `lab`
// (project lab-project) holds the servers the README's examples name, cloud `lab2` (other-project) is the
// target of `openstackMove`; a DNS double answers for their servers' names. TEST DOUBLES (no OpenStack runs
// here), in the process that starts them: their state is gone when it stops. The clouds.yaml (0600) has
// fresh passwords on every start; the worker gets its path and the DNS server through its environment.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloudSim, type CloudSim } from './cloud-sim.js';
import { DnsZone, startDnsSim } from './dns-sim.js';
import { makeGuestDisk } from './guest-disk.js';

export interface LabClouds {
  cloudsYaml: string;
  /** "127.0.0.1:PORT", for openstack.dns.servers (RUNBOOK_OPENSTACK_DNS_SERVERS). */
  dnsServer: string;
  /** The worker environment that points it at these clouds. */
  workerEnv: Record<string, string>;
  describe: string[];
  close(): Promise<void>;
}

/** Servers of cloud `lab`, one per README example plus the refusals worth trying. */
export const LAB_SERVERS = [
  { name: 'web-1' }, // snapshot, rollback, clone
  { name: 'app-1' }, // move to lab2 keeping the name
  { name: 'db-1', status: 'SHUTOFF' as const }, // rename
  { name: 'web-off', status: 'SHUTOFF' as const },
  { name: 'db-volume', volumeBacked: true },
  { name: 'web-stuck' },
];

export async function labCloudsUp(dataDir: string): Promise<LabClouds> {
  const dir = join(dataDir, 'cloud-sim');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A real ext4 guest disk, so openstackClone/Move/Rename have something for virt-sysprep to clean.
  const baseImage = join(dir, 'guest.qcow2');
  if (!existsSync(baseImage)) makeGuestDisk(baseImage, { hostname: 'lab-guest', machineId: randomBytes(16).toString('hex') });
  // A deleted server's name resolves for 30 s more: long enough to see openstackMove wait for it, short
  // enough to try (a site DNS keeps it for minutes).
  const zone = new DnsZone(30_000);
  const dns = await startDnsSim(zone);
  const sims: CloudSim[] = [];
  const entries: string[] = [];
  const clouds = [
    { cloud: 'lab', project: 'lab-project', servers: LAB_SERVERS },
    { cloud: 'lab2', project: 'other-project', servers: [] },
  ];
  try {
    for (const c of clouds) {
      const password = randomBytes(12).toString('base64url');
      const sim = await startCloudSim({
        dataDir: join(dir, c.cloud, 'images'),
        baseImage,
        dns: zone,
        user: { name: 'rbops', password, project: c.project },
        servers: c.servers,
        faults: { killImages: ['snap-killed'], stuckRebuild: ['web-stuck'] },
      });
      sims.push(sim);
      entries.push(
        `  ${c.cloud}:`,
        '    auth:',
        `      auth_url: ${sim.authUrl}`,
        '      username: rbops',
        `      password: "${password}"`,
        `      project_name: ${c.project}`,
        '      user_domain_name: Default',
        '      project_domain_name: Default',
        '    region_name: RegionOne',
        '    interface: public',
        '    identity_api_version: 3',
      );
    }
  } catch (err) {
    await Promise.all([...sims.map((s) => s.close()), dns.close()]);
    throw err;
  }
  const cloudsYaml = join(dir, 'clouds.yaml');
  writeFileSync(cloudsYaml, ['clouds:', ...entries, ''].join('\n'), { mode: 0o600 });
  return {
    cloudsYaml,
    dnsServer: dns.server,
    workerEnv: { RUNBOOK_OPENSTACK_CLOUDS: cloudsYaml, RUNBOOK_OPENSTACK_DNS_SERVERS: dns.server },
    describe: [
      `cloud lab on ${sims[0]!.authUrl}: servers ${LAB_SERVERS.map((s) => s.name + ('status' in s ? ` (${s.status})` : '') + ('volumeBacked' in s ? ' (volume-backed)' : '')).join(', ')}; flavors m2.small, m2.medium; key pair lab-key`,
      `cloud lab2 on ${sims[1]!.authUrl}: empty (openstackMove's target)`,
      `DNS for their names on ${dns.server} (a deleted name resolves 30 s more); clouds.yaml ${cloudsYaml}`,
    ],
    close: async () => {
      await Promise.all([...sims.map((s) => s.close()), dns.close()]);
    },
  };
}
