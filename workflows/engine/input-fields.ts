// Input fields shared by every runbook's schema. The CLI validates with the same schemas before starting.
// Builders, like the schemas themselves: a schema is built when a run checks its input, never when a
// module is evaluated (RunbookDefinition.input says why).
import { z } from 'zod';

export const hostName = () => z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'an inventory host name (lower-case letters, digits, "-", ".")');

export const person = () => z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'a user name (letters, digits, ".", "_", "@", "-")');

export const common = () => ({
  requestedBy: person(),
  dryRun: z.boolean().optional(),
});

/**
 * Names every bad field. Built from the issues' structure, not only their messages: inside the workflow
 * sandbox zod's generic messages can be bare ("Invalid input"), and an SRE needs the field's name.
 */
export function inputProblems(issues: z.core.$ZodIssue[]): { field: string; why: string }[] {
  const bad: { field: string; why: string }[] = [];
  for (const i of issues) {
    const at = i.path.map(String);
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) bad.push({ field: [...at, k].join('.'), why: 'unknown field' });
    } else {
      const why = i.message && i.message !== 'Invalid input' ? i.message : `invalid (${i.code})`;
      bad.push({ field: at.join('.') || '(input)', why });
    }
  }
  return bad;
}

/** The one InvalidInput message, the same from the workflow and from the CLI. */
export function invalidInput(issues: z.core.$ZodIssue[]): { message: string; fields: string[] } {
  const bad = inputProblems(issues);
  return { message: `InvalidInput: ${bad.map((b) => `${b.field}: ${b.why}`).join('; ')}`, fields: bad.map((b) => b.field) };
}
