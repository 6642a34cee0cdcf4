// The inventory is how runbooks reach hosts: inputs name hosts, the inventory alone knows addresses,
// users, pinned host keys and identity files. Nothing from it enters workflow history except names.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

const hostKeyLine = z.string().regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, 'must be "<type> <base64>"');

export const InventoryHost = z.object({
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be a POSIX user name'),
  hostKey: hostKeyLine,
  identityFile: z.string().min(1),
  sudo: z.boolean().default(false),
  /** Commands at once on one connection: sshd's MaxSessions (10 unless the host's sshd_config says otherwise). */
  maxSessions: z.number().int().min(1).max(1000).default(10),
  /** Connections the worker opens to this host; beyond maxSessions × maxConnections, commands wait their turn. */
  maxConnections: z.number().int().min(1).max(64).default(4),
});
export type InventoryHost = z.infer<typeof InventoryHost>;

export const Inventory = z.object({
  hosts: z.record(z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'host names are lower-case DNS-like labels'), InventoryHost),
  postgres: z.object({ host: z.string(), port: z.number().int(), socketDir: z.string().optional() }).optional(),
});
export type Inventory = z.infer<typeof Inventory>;

export class InventoryError extends Error {}

/** Loads and validates; throws with the file and every bad field named (the worker refuses to start). */
export function loadInventory(path: string | undefined): Inventory {
  if (!path) throw new InventoryError('RUNBOOK_INVENTORY is not set (path to the inventory YAML, e.g. .data/lab/inventory.yaml)');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InventoryError(`inventory ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  let data: unknown;
  try {
    data = parse(text);
  } catch (err) {
    throw new InventoryError(`inventory ${path}: not valid YAML: ${(err as Error).message}`);
  }
  const r = Inventory.safeParse(data);
  if (!r.success) {
    const bad = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InventoryError(`inventory ${path}: ${bad.join('; ')}`);
  }
  return r.data;
}
