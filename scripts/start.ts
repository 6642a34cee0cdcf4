// `npm start [-- --no-lava]`: the demo lab, the Temporal dev server with its Web UI, and one worker. Ctrl-C stops
// everything this started (a dev server that was already running is left alone).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadCodecKeys } from '../workers/payload-codec.js';
import { startCodecServer, type CodecServer } from './codec-server.js';
import { labCloudsUp } from './lab/clouds.js';
import { defaultLabOptions, labDown, labUp } from './lab/lab.js';
import { lavaDown, lavaUp } from './lab/lava.js';
import { libvirtUp } from './lab/libvirt.js';
import { snoUp } from './lab/sno.js';
import { defaultDevServer, ensureSearchAttributes, isServing, startDevServer, stopDevServer, temporalCli } from './temporal-server.js';

async function main(): Promise<void> {
  const t0 = performance.now();
  const lab = defaultLabOptions();
  const address = `${defaultDevServer.ip}:${defaultDevServer.port}`;
  // Payload encryption: with a key configured (the worker inherits this environment), the Web UI gets a
  // codec server so it shows payloads decoded and encrypts the approvals it sends.
  const keys = loadCodecKeys();
  let codec: CodecServer | undefined;
  if (keys) {
    codec = await startCodecServer({ host: '127.0.0.1' });
    console.log(`start: payloads are encrypted (key id "${keys.encryptKeyId}" from ${keys.source}); codec server for the Web UI on ${codec.url}`);
    if (process.env.RUNBOOK_CODEC_AUTH_TOKEN)
      console.log('start: RUNBOOK_CODEC_AUTH_TOKEN is set: the dev Web UI sends no bearer token, so it cannot decode; unset it for local use');
  }
  const server = codec ? { ...defaultDevServer, uiCodecEndpoint: codec.url } : defaultDevServer;
  console.log('start: bringing up the lab hosts (sshd) and PostgreSQL');
  const { inventoryPath } = await labUp(lab);
  // sno-node as a booted ostree node with etcd, so the SNO runbooks can be tried (scripts/lab/sno.ts).
  await snoUp(lab);
  // The lab's libvirtd with controller-0 (q35) and controller-0-i440fx, so rearControllerRecovery can be tried.
  // It runs as the unprivileged lab user: the worker's virsh needs no sudo there, and ISOs go where QEMU reads.
  const lv = await libvirtUp(lab);
  // The seeded LAVA master (lava-server from Debian, devices, workers, jobs), so the five LAVA runbooks can be tried.
  // `--no-lava`: LAVA is machine-wide and taken over by the last lab that brings it up; leave another's alone.
  const withLava = !process.argv.includes('--no-lava');
  if (withLava) console.log('start: bringing up the LAVA master on lava-master (seeded: devices, workers, jobs)');
  const lava = withLava ? await lavaUp(lab) : undefined;
  // The cloud and DNS doubles (clouds lab and lab2) and the clouds.yaml the worker uses, for the five OpenStack runbooks.
  const clouds = await labCloudsUp(resolve('.data'));
  let dev: ChildProcess | undefined;
  if (isServing(server)) {
    console.log(`start: a Temporal server already answers on ${address}; using it`);
    if (ensureSearchAttributes(address)) {
      console.log('start: added the runbook search attributes to it; a server with its search-attribute cache on sees them within a minute');
    }
    if (codec) console.log(`start: its Web UI needs the codec endpoint ${codec.url} set in "Configure data encoder" to show payloads`);
  } else {
    console.log(`start: Temporal dev server on ${address} (history in ${server.dbFile})`);
    dev = await startDevServer(server);
  }
  mkdirSync(resolve('.data'), { recursive: true });
  const workerLog = resolve('.data/worker.log');
  const out = openSync(workerLog, 'a');
  const worker = spawn(process.execPath, ['build/workers/main.js'], {
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? address,
      RUNBOOK_INVENTORY: inventoryPath,
      // The one worker here: each restart with changed code makes its build current (runs pinned to the
      // previous build wait for it; `npm run runbook -- rollout status` lists them).
      RUNBOOK_PROMOTE: process.env.RUNBOOK_PROMOTE ?? 'always',
      RUNBOOK_LIBVIRT_SUDO: process.env.RUNBOOK_LIBVIRT_SUDO ?? 'false',
      RUNBOOK_LIBVIRT_ISO_DIR: process.env.RUNBOOK_LIBVIRT_ISO_DIR ?? lv.images,
      ...clouds.workerEnv,
    },
  });
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (stopping) process.exit(code);
    stopping = true;
    console.log('\nstart: stopping the worker, the dev server and the lab');
    if (worker.exitCode === null) {
      const gone = new Promise((r) => worker.once('exit', r));
      worker.kill('SIGTERM');
      await gone;
    }
    if (dev) await stopDevServer(dev);
    if (codec) await codec.close();
    await clouds.close();
    if (withLava) await lavaDown(lab);
    await labDown(lab);
    process.exit(code);
  };
  worker.on('exit', (code) => {
    if (!stopping) {
      console.error(`start: the worker exited (${code}); see ${workerLog}`);
      void stop(1);
    }
  });
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  console.log(`
  Up in ${((performance.now() - t0) / 1000).toFixed(0)} s
  Web UI        http://${server.ip}:${server.uiPort}/namespaces/default/workflows
  Worker log    ${workerLog} (JSON lines)   metrics http://127.0.0.1:9464/metrics${codec ? `\n  Codec server  ${codec.url} (encrypted payloads; the UI decodes through it)` : ''}
  Inventory     ${inventoryPath}
  LAVA          ${lava ? `lava-server ${lava.version} on lava-master: workers ${lava.workers.join(' ')}; devices ${lava.devices.join(' ')}; ${lava.jobs} jobs` : 'not started (--no-lava)'}
  Clouds        ${clouds.describe.join('\n                ')}
  Runbooks      the README's table: every example input there works against this lab (npm run tour-check tries all 17)

  Try it:
    ${temporalCli} workflow start --address ${address} --task-queue runbooks --type hostFacts \\
      --input '{"hosts":["lava-master","sno-node"]}'
    ${temporalCli} workflow start --address ${address} --task-queue runbooks --type labDrill \\
      --input '{"host":"lava-master","steps":3,"requestedBy":"alice"}'
  Everything waiting for a human:  RunbookStatus = "AwaitingApproval"

  Ctrl-C stops everything started here.`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
