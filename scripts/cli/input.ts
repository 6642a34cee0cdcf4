// Runbook input for the CLI: a JSON file or `--set key=value` pairs, validated with the runbook's own
// schema before anything is sent (the workflow validates again with the same schema).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { runbookInputs } from '../../workflows/catalog.js';
import { invalidInput } from '../../workflows/engine/input-fields.js';

export class UsageError extends Error {}

export function schemaOf(runbook: string): z.ZodType {
  const build = runbookInputs[runbook];
  if (!build) throw new UsageError(`unknown runbook "${runbook}" (known: ${Object.keys(runbookInputs).join(', ')})`);
  return build();
}

/** `--set a.b=1 --set hosts=["x"]`: values are JSON when they parse as JSON, strings otherwise. */
export function fromSets(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set wants key=value, got "${s}"`);
    const path = s.slice(0, eq).split('.');
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    let at = out;
    for (const k of path.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[path[path.length - 1]!] = value;
  }
  return out;
}

export function readInput(runbook: string, o: { input?: string; set?: string[] }): Record<string, unknown> {
  const schema = schemaOf(runbook);
  let value: Record<string, unknown> = {};
  if (o.input) {
    const text = o.input.trim().startsWith('{') ? o.input : readFileSync(o.input.replace(/^@/, ''), 'utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--input is not JSON: ${(err as Error).message}`);
    }
  }
  value = { ...value, ...fromSets(o.set ?? []) };
  const r = schema.safeParse(value);
  if (!r.success) throw new UsageError(invalidInput(r.error.issues).message);
  return value; // the raw object: the workflow applies its own defaults, exactly as from the Web UI
}

/** One line per field: name, type, required or not. */
export function schemaSummary(runbook: string): string[] {
  const json = z.toJSONSchema(schemaOf(runbook), { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, { type?: string }>;
    required?: string[];
  };
  return Object.entries(json?.properties ?? {}).map(([k, p]) => `${k}${json?.required?.includes(k) ? '' : '?'}: ${p.type ?? 'value'}`);
}
