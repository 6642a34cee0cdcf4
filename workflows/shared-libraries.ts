// Libraries the worker evaluates once and shares between all workflow runs (the bundler's
// `preloadModules`, see workers/workflow-bundle.ts), instead of once per run: zod's own modules cost
// about 330 KiB per cached run. Only libraries without per-run state belong here: the SDK deep-freezes
// what it preloads. Zod qualifies; schemas built from it are still per run and stay writable (zod
// resets `lastIndex` on the regexes a schema holds, so those must not be frozen: never preload a
// module that builds schemas).
//
// The import goes through this module because preloading 'zod' by name loads its CommonJS build (a
// `require`), a different module from the ES build the workflows import. It names one member only:
// `export *` would keep all of zod (48 locales) in the bundle, where the workflows' imports keep 15
// modules.
import { z } from 'zod';

export const zodLoaded = typeof z.object === 'function';
