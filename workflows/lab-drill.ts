// labDrill: the demo and test bed of the runbook core. n harmless steps on a lab host, optionally one
// that fails the first time (a one-shot step: never retried by itself), a gate, then a dangerous step
// that writes a marker file.
import { z } from 'zod';
import { remote } from './commands.js';
import { common, hostName } from './input-fields.js';
import { gate, runbook, step } from './runbook.js';

export const LabDrillInput = () => z
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
    /** No host lease: many drills on one host at once (the scale benchmark parks hundreds at the gate). */
    shareHost: z.boolean().optional(),
    ...common(),
  })
  .refine((i) => i.failAt === undefined || i.failAt <= i.steps, { message: 'failAt must be ≤ steps', path: ['failAt'] });

export const labDrill = runbook({
  name: 'labDrill',
  input: LabDrillInput,
  hosts: (i) => [i.host],
  leases: (i) => (i.shareHost ? [] : [i.host]),
  steps: (i) => [
    ...Array.from({ length: i.steps }, (_, k) =>
      k + 1 === i.failAt
        ? step(`flaky step ${k + 1}`, (ctx) => remote(i.host, ['sh', '-c', FAILS_FIRST_TIME, 'drill', ctx.workflowId]), { idempotent: false })
        : step(`harmless step ${k + 1}`, () => (i.bareSteps ? remote(i.host, ['true']) : remote(i.host, ['sh', '-c', 'echo "drill step $1 on $(hostname)"', 'drill', String(k + 1)])), {
            idempotent: true,
            readOnly: true,
            quick: true,
          }),
    ),
    // A hold of up to a minute is a quick step (a local activity, its attempt bounded at 2 minutes), a
    // longer one an ordinary activity that heartbeats.
    i.holdSeconds
      ? step('hold', () => remote(i.host, ['sleep', String(i.holdSeconds)]), {
          idempotent: true,
          readOnly: true,
          ...(i.holdSeconds <= QUICK_HOLD_MAX_S ? { quick: true, timeout: '2 minutes' } : {}),
        })
      : null,
    gate('write-marker'),
    step(
      'write marker',
      (ctx) =>
        i.markerDelaySeconds
          ? remote(i.host, ['sh', '-c', `sleep "$2"; ${WRITE_MARKER}`, 'drill', ctx.workflowId, String(i.markerDelaySeconds)])
          : remote(i.host, ['sh', '-c', WRITE_MARKER, 'drill', ctx.workflowId]),
      { idempotent: false, danger: true },
    ),
  ],
});

const QUICK_HOLD_MAX_S = 60;

// Counts its executions in ~/drill/<workflowId>.count and fails on the first one only.
const FAILS_FIRST_TIME = 'mkdir -p "$HOME/drill" && f="$HOME/drill/$1.count" && echo run >> "$f" && [ "$(wc -l < "$f")" -ge 2 ] || { echo "first execution fails on purpose" >&2; exit 3; }';
const WRITE_MARKER = 'mkdir -p "$HOME/drill" && date -u +%FT%TZ >> "$HOME/drill/$1.marker" && echo "marker written on $(hostname)"';
