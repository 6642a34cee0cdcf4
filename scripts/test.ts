// `npm test`: the whole suite against the REAL Temporal dev server and the REAL lab hosts. It starts
// both (on ports and addresses of its own, so a running `npm start` is left alone), runs node's test
// runner over build/test/*.test.js, and stops what it started.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultLabOptions, labDown, labUp } from './lab/lab.js';
import { startDevServer, stopDevServer, type DevServerOptions } from './temporal-server.js';

// Overridable so two suites (e.g. two developers' branches) can run side by side on one machine.
const root = resolve(process.env.TEST_DATA_ROOT ?? '.data/test');
const server: DevServerOptions = {
  dbFile: join(root, 'temporal.sqlite'),
  ip: '127.0.0.1',
  port: Number(process.env.TEST_TEMPORAL_PORT ?? 7243),
  uiPort: Number(process.env.TEST_TEMPORAL_UI_PORT ?? 8243),
  logFile: join(root, 'temporal.log'),
};
const lab = defaultLabOptions({
  dir: join(root, 'lab'),
  addrBase: process.env.TEST_LAB_ADDR_BASE ?? '127.0.20',
  pgPort: Number(process.env.TEST_PG_PORT ?? 5442),
});

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  // A fresh history database per run: tests own their workflow ids and must not see old runs.
  for (const f of ['temporal.sqlite', 'temporal.sqlite-wal', 'temporal.sqlite-shm']) rmSync(join(root, f), { force: true });
  rmSync(join(root, 'data'), { recursive: true, force: true });
  // The lab worker's key that signs backup manifests and records: one per run, in the run's data directory.
  mkdirSync(join(root, 'data'), { recursive: true }); // the lab's users must traverse root: only keys/ is private
  mkdirSync(join(root, 'data', 'keys'), { mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'runbooks-lab-backup-signing', '-f', join(root, 'data', 'keys', 'bundle-signing')]);
  const t0 = Date.now();
  console.log(`test: starting the Temporal dev server on ${server.ip}:${server.port} and the lab on ${lab.addrBase}.x`);
  const [dev, { inventoryPath }] = await Promise.all([startDevServer(server), labUp(lab)]);
  console.log(`test: dev server and lab up in ${Date.now() - t0} ms`);
  // `npm run test:heavy` (TEST_SUITE=heavy): the tests too slow for every run, in build/test/heavy/.
  // The unit tier (build/test/unit/, no lab) runs first in the whole suite too.
  const dirs = process.env.TEST_SUITE === 'heavy' ? ['build/test/heavy'] : ['build/test/unit', 'build/test'];
  const files = dirs
    .flatMap((dir) => readdirSync(dir).map((f) => join(dir, f)))
    .filter((f) => f.endsWith('.test.js'))
    .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
    .sort((a, b) => Number(b.includes('/unit/')) - Number(a.includes('/unit/')) || a.localeCompare(b));
  try {
    return await new Promise<number>((done) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          './build/scripts/host-script-loader.js',
          '--test',
          '--test-concurrency=1',
          '--test-reporter=spec',
          // One test by name (its file's before/after hooks still run): node refuses the flag in NODE_OPTIONS.
          ...(process.env.TEST_NAME_PATTERN ? [`--test-name-pattern=${process.env.TEST_NAME_PATTERN}`] : []),
          ...files,
        ],
        {
          stdio: 'inherit',
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: `${server.ip}:${server.port}`,
            TEMPORAL_NAMESPACE: 'default',
            RUNBOOK_INVENTORY: inventoryPath,
            RUNBOOK_DATA_DIR: join(root, 'data'),
            RUNBOOK_TEST_SERVER: JSON.stringify(server),
            RUNBOOK_TEST_LAB: JSON.stringify(lab),
          },
        },
      );
      child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await stopDevServer(dev);
    await labDown(lab);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
