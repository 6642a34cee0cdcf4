// Lets Node import the runbooks' host scripts (`import replaceDatabase from './scripts/replace-database.sh'`)
// as their text, the way the workflow bundle does (workers/workflow-bundle.ts). Imported first by every
// entry point that loads procedure modules outside the bundle (the CLI, the test runner's `--import`).
import { register } from 'node:module';

register('./host-script-hooks.js', import.meta.url);
