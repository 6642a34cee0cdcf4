// All activities, created with their dependencies by the worker. Workflows import only the type.
import type { Client } from '@temporalio/client';
import type { WorkerConfig } from '../workers/config.js';
import type { Inventory } from '../workers/inventory.js';
import { AuditStore } from './runbook/audit-store.js';
import { makeRunCommand } from './ssh/command.js';
import { makeRunQuickCommand, makeRunQuickCommands } from './ssh/quick-command.js';
import { makeBackupStoreActivities } from './store/encryption.js';
import { makeSigningActivities } from './store/signing.js';
import { makeHostFacts } from './ssh/host-facts.js';
import { makeCloudApi } from './openstack/api.js';
import { makeOpenstackDnsActivities } from './openstack/dns.js';
import { makeOpenstackImageFileActivities } from './openstack/image-files.js';
import { makeKnownHostsActivities } from './ssh/known-hosts.js';
import { makeOpenstackActivities } from './openstack/images.js';
import { makeOpenstackServerActivities } from './openstack/servers.js';
import { makeLibvirtActivities } from './libvirt/libvirt.js';
import { makePipeCommands } from './ssh/pipe.js';
import { makeRebootActivities } from './ssh/node-reboot.js';
import { makeAdminActivities } from './runbook/admin.js';
import { SshPool } from './ssh/ssh.js';
import { join } from 'node:path';

export interface ActivityDeps {
  inventory: Inventory;
  config: WorkerConfig;
  client: () => Client;
  env?: NodeJS.ProcessEnv;
  namespace?: string;
}

export function createActivities(deps: ActivityDeps) {
  const ssh = new SshPool(deps.inventory);
  const audit = new AuditStore(join(deps.config.dataDir, 'audit'));
  const cloudApi = makeCloudApi(deps.config);
  return {
    activities: {
      runCommand: makeRunCommand(ssh, audit),
      runQuickCommand: makeRunQuickCommand(ssh, audit),
      runQuickCommands: makeRunQuickCommands(ssh, audit),
      collectHostFacts: makeHostFacts(ssh),
      pipeCommands: makePipeCommands(ssh, deps.config),
      ...makeRebootActivities(ssh),
      ...makeKnownHostsActivities(deps.inventory),
      ...makeBackupStoreActivities(deps.config),
      ...makeSigningActivities(ssh, deps.config),
      ...makeOpenstackActivities(deps.config, cloudApi),
      ...makeOpenstackServerActivities(cloudApi, deps.config),
      ...makeOpenstackImageFileActivities(ssh, cloudApi, deps.config),
      ...makeOpenstackDnsActivities(deps.config),
      ...makeLibvirtActivities(ssh, audit, deps.config),
      ...makeAdminActivities({ ...deps, env: deps.env ?? process.env, namespace: deps.namespace ?? 'default' }),
    },
    close: () => ssh.closeAll(),
  };
}

export type RunbookActivities = ReturnType<typeof createActivities>['activities'];
