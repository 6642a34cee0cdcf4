// rearPrepareStore: the ReaR seed's backup store preparation ("useradd -m -g backup -d /data/backup backup;
// echo backup:backup | chpasswd"), without its password: a system user with no login shell and no password
// ("*" in shadow), the directory owned by it (0750), and the controllers' public keys as its only way in (what
// ReaR's sftp OUTPUT_URL and sshfs BACKUP_URL then use). The store's sshd must serve sftp in-process
// (internal-sftp): a nologin user cannot start the sftp-server program through its shell; that is checked.
// Every change is conditional on what the store shows, so a second run changes nothing and says so. The
// default user is `rear`, not the seed's `backup`: Debian ships `backup` as a system account (uid 34), and
// an account this runbook did not create is never taken over (store.ts targetRefusal).
import { z } from 'zod';
import { remote, stdoutOf } from '../engine/commands.js';
import { common, hostName } from '../engine/input-fields.js';
import { change, gate, onlyIf, read, runbook, type RunContext } from '../engine/runbook.js';
import installKeys from './scripts/install-keys.sh';
import readStore from './scripts/read-store.sh';
import sftpCheck from './scripts/sftp-check.sh';
import {
  changesNeeded,
  NOLOGIN,
  parseStore,
  preparedRefusal,
  publicKey,
  sftpRefusal,
  STORE_USER_COMMENT,
  storePath,
  systemUser,
  targetRefusal,
  wantedKeys,
  type StoreChange,
} from './store.js';

export const RearPrepareStoreInput = () =>
  z.strictObject({
    store: hostName(),
    user: systemUser().default('rear'),
    path: storePath().default('/data/backup'),
    /** Public keys of the controllers' root accounts (ReaR runs as root there). */
    authorizedKeys: z.array(publicKey()).max(100).default([]),
    /** What the nodes' backups will take (ISO and archive, all nodes, bytes): the store must have it free. */
    expectedBytes: z.number().int().min(0).optional(),
    ...common(),
  });
type Input = z.infer<ReturnType<typeof RearPrepareStoreInput>>;

export const rearPrepareStore = runbook({
  name: 'rearPrepareStore',
  input: RearPrepareStoreInput,
  hosts: (i) => [i.store],
  leases: (i) => [i.store],
  procedure: (i) => {
    const onStore = (argv: string[], stdin?: string) => remote(i.store, argv, { sudo: true, stdin });
    // A verdict: root, the worker's login, an admin or someone else's account or home is refused before any change.
    const before = read('read the store', () => onStore(['sh', '-c', readStore, 'read-store', i.user, i.path]), {
      verdict: true,
      parse: (r) => parseStore(stdoutOf(r)),
      expect: (s) => targetRefusal(i, s),
    });
    const needs = (c: StoreChange, says: string) => onlyIf(says, (ctx: RunContext<Input>) => changesNeeded(i, before.value(ctx)).includes(c));
    const after = read('read the store again', () => onStore(['sh', '-c', readStore, 'read-store', i.user, i.path]), {
      parse: (r) => parseStore(stdoutOf(r)),
      expect: (s) => preparedRefusal(i, s),
    });
    return {
      steps: [
        before,
        gate<Input>(
          'prepare-store',
          (ctx) => {
            const s = before.value(ctx);
            return [
              `${i.store}: ${changesNeeded(i, s).join(', ')} for user ${i.user} (${s.user ? `exists, uid ${s.user.uid}` : 'new'}) and ${i.path}`,
              `${i.user} gets the shell ${NOLOGIN} and no password; ${i.path} becomes ${i.user}:${i.user} 0750; ${s.availableBytes} bytes free there`,
            ];
          },
          { when: onlyIf('the store lacks something', (ctx: RunContext<Input>) => changesNeeded(i, before.value(ctx)).length > 0) },
        ),
        change('create the group', () => onStore(['groupadd', '--system', i.user]), { when: needs('group', `neither user nor group ${i.user} exists`) }),
        change(
          'create the user (no login shell, no home of its own)',
          () =>
            onStore([
              'useradd',
              '--system',
              '--gid',
              i.user,
              '--comment',
              STORE_USER_COMMENT,
              '--home-dir',
              i.path,
              '--no-create-home',
              '--shell',
              NOLOGIN,
              i.user,
            ]),
          { when: needs('user', `user ${i.user} does not exist`) },
        ),
        change('take away the login shell', () => onStore(['usermod', '--shell', NOLOGIN, i.user]), {
          when: needs('shell', `${i.user} has a login shell other than ${NOLOGIN}`),
        }),
        // A password (the seed's backup:backup) is a way in that keys make unnecessary. "*", not `passwd --lock`:
        // its "!" makes sshd without PAM refuse the account as locked even for key logins, so ReaR's upload never gets in.
        change('remove the password ("*": no password works)', () => onStore(['usermod', '--password', '*', i.user]), {
          when: needs('password', `${i.user}'s password field is not "*"`),
        }),
        change('create the backup directory (owner only, group read)', () => onStore(['install', '-d', '-o', i.user, '-g', i.user, '-m', '0750', i.path]), {
          when: needs('directory', `${i.path} is not ${i.user}:${i.user} 0750`),
        }),
        change("install the controllers' public keys", () => onStore(['sh', '-c', installKeys, 'install-keys', i.user], `${wantedKeys(i)}\n`), {
          when: needs('keys', `${i.user}'s authorized_keys are not the given keys`),
        }),
        read('check that the store serves sftp without a shell', () => onStore(['sh', '-c', sftpCheck, 'sftp-check', i.user]), {
          parse: (r) => stdoutOf(r).trim().toLowerCase(),
          expect: (says) => sftpRefusal(i.user, says),
        }),
        after,
      ],
      output: (ctx) => {
        const now = after.value(ctx);
        const changed = changesNeeded(i, before.value(ctx));
        return {
          store: i.store,
          user: i.user,
          path: i.path,
          changed,
          summary: changed.length ? `changed: ${changed.join(', ')}` : 'no change: the store was already prepared',
          home: now.user?.home,
          shell: now.user?.shell,
          availableBytes: now.availableBytes,
          keys: i.authorizedKeys.length,
        };
      },
    };
  },
});
