// `node build/scripts/lab/cloud-sim-cli.js`: the lab's clouds (scripts/lab/clouds.ts) on their own, for a worker
// started by hand (`npm start` runs them itself). Writes the clouds.yaml (clouds "lab" and "lab2", mode
// 0600) under .data/cloud-sim/ and prints the worker environment that uses it. Ctrl-C stops them. A test
// double: no real cloud behind it.
import { resolve } from 'node:path';
import { labCloudsUp } from './clouds.js';

async function main(): Promise<void> {
  const clouds = await labCloudsUp(resolve(process.env.RUNBOOK_DATA_DIR ?? '.data'));
  for (const line of clouds.describe) console.log(line);
  console.log(
    `start the worker with ${Object.entries(clouds.workerEnv)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}, then e.g.`,
  );
  console.log(
    `  temporal workflow start --task-queue runbooks --type openstackSnapshot --input '{"cloud":"lab","server":"web-1","name":"web-1-ref","requestedBy":"alice","resyncClock":false}'`,
  );
  const stop = () => void clouds.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
