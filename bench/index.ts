// `npm run bench -- <name>`: which benchmark to run. Each one runs at import, so only the chosen one is loaded.
//   steps (default)  bench/step-overhead.ts: what one runbook step costs end to end
//   scale            bench/scale.ts: 5,000 runs parked at a gate (cache bounded: most evicted) + 50 running on
//                    one worker; evicted runs approved one at a time, replay cost by history length; approve all
//   backup           bench/backup.ts: lavaMasterBackup's dump throughput vs raw ssh pg_dump, worker RSS
//                    (takes LAVA over: run it as `flock /tmp/lava-global.lock npm run bench -- backup`)
//   cluster          bench/cluster.ts: the real temporal-server on PostgreSQL, two workers in network namespaces, kill -9 of one,
//                    a partition of the other, 500 parked runs approved, then scale on it (root; build the server first:
//                    scripts/cluster/build-server.sh)
//   restore          bench/restore.ts: restore time (RTO), the replace-database step and a whole lavaMasterRestore
//                    vs the source's ssh cat | psql; the store → master stream vs raw ssh (same lock as backup)
const benches: Record<string, () => Promise<unknown>> = {
  steps: () => import('./step-overhead.js'),
  'step-overhead': () => import('./step-overhead.js'),
  backup: () => import('./backup.js'),
  restore: () => import('./restore.js'),
  scale: () => import('./scale.js'),
  cluster: () => import('./cluster.js'),
};

const name = process.argv[2] ?? 'steps';
const run = benches[name];
if (!run) {
  console.error(`unknown benchmark "${name}"; one of: ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
await run();
