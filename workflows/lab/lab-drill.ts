// labDrill: the demo and test bed of the runbook engine. n harmless steps on a lab host, optionally one
// that fails the first time (a one-shot step: never retried by itself), a gate, then a dangerous step
// that writes a marker file.
import { z } from 'zod';
import { remote, type CommandResult } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { gate, once, read, runbook, type RunbookDefinition } from '../engine/runbook.js';
import failsFirstTime from './scripts/fails-first-time.sh';
import writeMarker from './scripts/write-marker.sh';

export const LabDrillInput = () =>
  z
    .strictObject({
      host: hostName(),
      steps: z.number().int().min(1).max(200),
      failAt: z.number().int().min(1).optional(),
      /** A long read-only step before the gate (for cancellation drills). */
      holdSeconds: z.number().int().min(1).max(86_400).optional(),
      /** The dangerous step takes this long before writing (for crash drills inside a one-shot step). */
      markerDelaySeconds: z.number().int().min(1).max(3600).optional(),
      /** The harmless steps run plain `true` (the step-overhead benchmark: Ansible's tasks run `true` too). */
      bareSteps: z.boolean().optional(),
      /** The harmless steps are one-shot steps (activity task + run-key protocol): the benchmark's never-twice figure. */
      oneShotSteps: z.boolean().optional(),
      /** The one-shot steps (the harmless ones with oneShotSteps, and the marker) are quick: local activities, still under the run key. */
      quickOneShots: z.boolean().optional(),
      /** No host lease: many drills on one host at once (the scale benchmark parks hundreds at the gate). */
      shareHost: z.boolean().optional(),
      /** Lease the host as a store this drill only writes into: shared on this path (drills of lease scopes). */
      storePath: z
        .string()
        .regex(/^\/[A-Za-z0-9._/-]{1,200}$/, 'an absolute path')
        .optional(),
      /**
       * Drills of decisions: "check" adds a check before the gate that fails its first time (it may be
       * retried, never skipped); "restart" adds a step after the gate that fails its first time, with the
       * gate as restart point (a restart opens the gate again, as a new opening); "quick-flaky" adds, after
       * the first harmless step, a quick step that fails its first time (a quick batch stops there).
       */
      drill: z.enum(['check', 'restart', 'quick-flaky']).optional(),
      ...common(),
    })
    .refine((i) => i.failAt === undefined || i.failAt <= i.steps, { message: 'failAt must be ≤ steps', path: ['failAt'] });

/** A hold of up to a minute is a quick step (a local activity, bounded at 2 minutes); longer ones heartbeat. */
const QUICK_HOLD_MAX_S = 60;

/** The definition itself: test/fixtures/versioned-workflows.ts changes its procedure (a later build). */
export const labDrillDefinition = {
  name: 'labDrill',
  input: LabDrillInput,
  hosts: (i) => [i.host],
  leases: (i) => (i.shareHost ? [] : [i.storePath ? { host: i.host, sharedPath: i.storePath } : i.host]),
  procedure: (i) => {
    const approval = gate('write-marker');
    const harmless = (k: number): string[] => (i.bareSteps ? ['true'] : ['sh', '-c', 'echo "drill step $1 on $(hostname)"', 'drill', String(k + 1)]);
    return {
      restartFrom: i.drill === 'restart' ? approval : undefined,
      steps: [
        ...Array.from({ length: i.steps }, (_, k) => [
          k === 1 && i.drill === 'quick-flaky'
            ? read('flaky quick step', (ctx) => remote(i.host, ['sh', '-c', failsFirstTime, 'drill', `${ctx.workflowId}.quick`]), { quick: true })
            : null,
          k + 1 === i.failAt
            ? once(`flaky step ${k + 1}`, (ctx) => remote(i.host, ['sh', '-c', failsFirstTime, 'drill', ctx.workflowId]))
            : i.oneShotSteps
              ? once(`harmless step ${k + 1}`, () => remote(i.host, harmless(k)), i.quickOneShots ? { quick: true } : {})
              : read(`harmless step ${k + 1}`, () => remote(i.host, harmless(k)), { quick: true }),
        ]).flat(),
        i.holdSeconds
          ? read('hold', () => remote(i.host, ['sleep', String(i.holdSeconds)]), i.holdSeconds <= QUICK_HOLD_MAX_S ? { quick: true, timeout: '2 minutes' } : {})
          : null,
        i.drill === 'check'
          ? read(
              'check drill host',
              (ctx) => remote(i.host, ['sh', '-c', 'mkdir -p drill && echo run >> "drill/$1.checks" && wc -l < "drill/$1.checks"', 'drill', ctx.workflowId]),
              { expect: (r: CommandResult[]) => (Number(r[0]?.stdoutTail.trim()) < 2 ? 'the drill check fails its first time' : undefined) },
            )
          : null,
        approval,
        once(
          'write marker',
          (ctx) => remote(i.host, ['sh', '-c', writeMarker, 'drill', ctx.workflowId, ...(i.markerDelaySeconds ? [String(i.markerDelaySeconds)] : [])]),
          i.quickOneShots ? { danger: true, quick: true, timeout: `${(i.markerDelaySeconds ?? 0) + 60} seconds` } : { danger: true },
        ),
        i.drill === 'restart' ? once('flaky after the gate', (ctx) => remote(i.host, ['sh', '-c', failsFirstTime, 'drill', `${ctx.workflowId}.after`])) : null,
      ],
    };
  },
} satisfies RunbookDefinition<ReturnType<typeof LabDrillInput>>;

export const labDrill = runbook(labDrillDefinition);
