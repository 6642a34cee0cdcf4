// npm run lab -- up|down|status [--with lava] [--with sno] [--with libvirt] [--dir DIR] [--addr-base 127.0.10] [--port 22] [--pg-port 5432]
// `--with lava` adds the real LAVA master (lava-server 2023.01) on lava-master; see scripts/lab/lava.ts.
// `--with libvirt` starts the lab's libvirtd (qemu:///session, TCG) with domains controller-0 (q35) and
// controller-0-i440fx, reached by the hypervisor host's virsh; see scripts/lab/libvirt.ts.
// `--with sno` makes sno-node a booted ostree node with etcd (Single Node OpenShift stand-in); see scripts/lab/sno.ts.
import { parseArgs } from 'node:util';
import { defaultLabOptions, labDown, labStatus, labUp, LAB_HOSTS, type LabOptions } from './lab/lab.js';
import { hostAddress } from './lab/layout.js';
import { lavaDown, lavaStatus, lavaUp } from './lab/lava.js';
import { snoUp } from './lab/sno.js';
import { libvirtUp } from './lab/libvirt.js';

const USAGE =
  'usage: node build/scripts/lab.js up|down|status [--with lava] [--with sno] [--with libvirt] [--dir DIR] [--addr-base 127.0.10] [--port 22] [--pg-port 5432]';

function parsePort(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${flag} must be a number, got "${v}"`);
  return n;
}

function describe(opts: LabOptions): string[] {
  return LAB_HOSTS.map((name, i) => `  ${name.padEnd(13)} ${hostAddress(opts.addrBase, i)}:${opts.port}`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'addr-base': { type: 'string' },
      port: { type: 'string' },
      'pg-port': { type: 'string' },
      with: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const cmd = positionals[0];
  if (values.help || positionals.length !== 1 || !['up', 'down', 'status'].includes(cmd ?? '')) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const opts = defaultLabOptions({
    dir: values.dir,
    addrBase: values['addr-base'],
    port: parsePort('--port', values.port),
    pgPort: parsePort('--pg-port', values['pg-port']),
  });
  const services = values.with ?? [];
  for (const w of services) if (!['lava', 'sno', 'libvirt'].includes(w)) throw new Error(`--with knows "lava", "sno" and "libvirt", got "${w}"`);
  const lava = services.includes('lava');
  const sno = services.includes('sno');
  const t0 = performance.now();
  const took = () => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

  if (cmd === 'up') {
    const { inventoryPath } = await labUp(opts);
    console.log(`lab up in ${took()} (${opts.dir})`);
    for (const line of describe(opts)) console.log(line);
    console.log(`  postgres      127.0.0.1:${opts.pgPort}`);
    console.log(`inventory: ${inventoryPath}`);
    if (lava) {
      const info = await lavaUp(opts);
      console.log(`lava up in ${took()}: lava-server ${info.version}, database ${info.dbName} (user ${info.dbUser}) on 127.0.0.1:${opts.pgPort}`);
      console.log(`  workers ${info.workers.join(' ')}; devices ${info.devices.join(' ')}; ${info.jobs} jobs; http://127.0.0.1:8000/`);
    }
    if (sno) {
      await snoUp(opts);
      console.log(
        `sno up in ${took()}: sno-node boots an ostree deployment (rhcos 4.15, standby 4.14; commit 4.16 ready to deploy), etcd on its address :2379`,
      );
    }
    if (services.includes('libvirt')) {
      const lv = await libvirtUp(opts);
      console.log(
        `libvirt up in ${took()}: ${lv.uri} (hypervisor's virsh default), domains controller-0 (q35), controller-0-i440fx (pc); images in ${lv.images}`,
      );
    }
    return 0;
  }
  if (cmd === 'down') {
    await lavaDown(opts); // a no-op unless this lab owns the machine's LAVA
    await labDown(opts);
    console.log(`lab down in ${took()} (${opts.dir})`);
    return 0;
  }
  const st = await labStatus(opts);
  console.log(`lab ${st.up ? 'up' : 'NOT up'} (${opts.dir})`);
  LAB_HOSTS.forEach((name, i) => {
    console.log(`  ${name.padEnd(13)} ${hostAddress(opts.addrBase, i)}:${opts.port}  ${st.hosts[name] ? 'up' : 'down'}`);
  });
  console.log(`  postgres      127.0.0.1:${opts.pgPort}  ${st.postgres ? 'up' : 'down'}`);
  if (!lava) return st.up ? 0 : 3;
  const ls = await lavaStatus(opts);
  for (const [name, running] of Object.entries(ls.daemons)) console.log(`  ${name.padEnd(21)} ${running ? 'running' : 'stopped'}`);
  console.log(`  ${'lava database'.padEnd(21)} ${ls.database ? 'ready' : 'not ready'}`);
  return st.up && ls.database && Object.values(ls.daemons).every(Boolean) ? 0 : 3;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
