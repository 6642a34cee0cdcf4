// Reads one cloud's entry from a standard clouds.yaml on the worker (the file python-openstackclient uses).
// The credentials stay in this process: nothing read here is returned to a workflow or logged.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'yaml';
import { z } from 'zod';

const Auth = z.object({
  auth_url: z.string().url(),
  username: z.string().optional(),
  user_id: z.string().optional(),
  password: z.string().optional(),
  project_name: z.string().optional(),
  project_id: z.string().optional(),
  user_domain_name: z.string().optional(),
  user_domain_id: z.string().optional(),
  project_domain_name: z.string().optional(),
  project_domain_id: z.string().optional(),
  // Shorthand for both domains, as openstacksdk accepts.
  domain_name: z.string().optional(),
  application_credential_id: z.string().optional(),
  application_credential_secret: z.string().optional(),
});

const CloudEntry = z.object({
  auth: Auth,
  auth_type: z.enum(['password', 'v3password', 'v3applicationcredential']).optional(),
  region_name: z.string().optional(),
  interface: z.enum(['public', 'internal', 'admin']).optional(),
  identity_api_version: z.union([z.string(), z.number()]).optional(),
});
export type CloudEntry = z.infer<typeof CloudEntry>;

/** The standard search order of openstacksdk when the worker config names no file. */
function candidates(configured: string | null, env: NodeJS.ProcessEnv): string[] {
  if (configured) return [resolve(configured)];
  return [env.OS_CLIENT_CONFIG_FILE, 'clouds.yaml', join(homedir(), '.config/openstack/clouds.yaml'), '/etc/openstack/clouds.yaml']
    .filter((p): p is string => Boolean(p))
    .map((p) => resolve(p));
}

function invalidConfig(message: string): ApplicationFailure {
  // InvalidConfig fails the run at once: no retry can fix the worker's configuration.
  return ApplicationFailure.create({ message, type: 'InvalidConfig', nonRetryable: true });
}

/** The entry of `cloud`, validated. Errors name the file and the field, never a value. */
export function readCloud(cloud: string, configured: string | null, env: NodeJS.ProcessEnv = process.env): CloudEntry {
  const tried = candidates(configured, env);
  const path = tried.find((p) => existsSync(p));
  if (!path) throw invalidConfig(`no clouds.yaml on this worker (tried ${tried.join(', ')}; set openstack.cloudsYaml or RUNBOOK_OPENSTACK_CLOUDS)`);
  let data: unknown;
  try {
    data = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw invalidConfig(`${path}: not readable YAML (${(err as Error).name})`);
  }
  const clouds = (data as { clouds?: Record<string, unknown> } | null)?.clouds;
  if (!clouds || typeof clouds !== 'object') throw invalidConfig(`${path}: no "clouds:" map`);
  if (!(cloud in clouds)) throw invalidConfig(`${path}: no cloud "${cloud}" (it has: ${Object.keys(clouds).join(', ') || 'none'})`);
  const r = CloudEntry.safeParse(clouds[cloud]);
  if (!r.success) {
    // Field paths only: a zod message may quote the offending value, which could be the password.
    throw invalidConfig(`${path}: cloud "${cloud}": bad or missing ${r.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  }
  const a = r.data.auth;
  const appCred = r.data.auth_type === 'v3applicationcredential';
  if (appCred ? !(a.application_credential_id && a.application_credential_secret) : !((a.username || a.user_id) && a.password)) {
    throw invalidConfig(
      `${path}: cloud "${cloud}": ${appCred ? 'auth.application_credential_id and _secret are' : 'auth.username (or user_id) and auth.password are'} required`,
    );
  }
  if (!appCred && !(a.project_name || a.project_id)) throw invalidConfig(`${path}: cloud "${cloud}": auth.project_name or auth.project_id is required`);
  if (r.data.identity_api_version !== undefined && String(r.data.identity_api_version) !== '3') {
    throw invalidConfig(`${path}: cloud "${cloud}": only Keystone v3 is supported (identity_api_version ${r.data.identity_api_version})`);
  }
  return r.data;
}

/** The Keystone v3 password or application-credential request body for this entry. */
export function authRequest(c: CloudEntry): unknown {
  const a = c.auth;
  if (c.auth_type === 'v3applicationcredential') {
    return {
      auth: {
        identity: { methods: ['application_credential'], application_credential: { id: a.application_credential_id, secret: a.application_credential_secret } },
      },
    };
  }
  const domain = (id?: string, name?: string) => (id ? { id } : { name: name ?? a.domain_name ?? 'Default' });
  const user = a.user_id
    ? { id: a.user_id, password: a.password }
    : { name: a.username, domain: domain(a.user_domain_id, a.user_domain_name), password: a.password };
  const project = a.project_id ? { id: a.project_id } : { name: a.project_name, domain: domain(a.project_domain_id, a.project_domain_name) };
  return { auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } };
}
