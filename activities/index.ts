// All activities, created with their dependencies by the worker. Workflows import only the type.
import type { Client } from '@temporalio/client';
import type { WorkerConfig } from '../workers/config.js';
import type { Inventory } from '../workers/inventory.js';
import { AuditStore } from './audit-store.js';
import { makeRunCommand } from './command.js';
import { makeRunQuickCommand } from './quick-command.js';
import { makeBackupStoreActivities } from './backup-store.js';
import { makeHostFacts } from './host-facts.js';
import { makeOpenstackActivities } from './openstack.js';
import { makePipeCommands } from './pipe.js';
import { makeRebootActivities } from './node-reboot.js';
import { makeAdminActivities } from './runbook-admin.js';
import { SshPool } from './ssh.js';
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
  return {
    activities: {
      runCommand: makeRunCommand(ssh, audit),
      runQuickCommand: makeRunQuickCommand(ssh, audit),
      collectHostFacts: makeHostFacts(ssh),
      pipeCommands: makePipeCommands(ssh, deps.config),
      ...makeRebootActivities(ssh),
      ...makeBackupStoreActivities(deps.config),
      ...makeOpenstackActivities(deps.config),
      ...makeAdminActivities({ ...deps, env: deps.env ?? process.env, namespace: deps.namespace ?? 'default' }),
    },
    close: () => ssh.closeAll(),
  };
}

export type RunbookActivities = ReturnType<typeof createActivities>['activities'];
