// Input fields shared by every runbook's schema. The CLI validates with the same schemas before starting.
import { z } from 'zod';

export const hostName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'an inventory host name (lower-case letters, digits, "-", ".")');

export const person = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'a user name (letters, digits, ".", "_", "@", "-")');

export const common = {
  requestedBy: person,
  dryRun: z.boolean().optional(),
};
