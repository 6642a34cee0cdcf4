// A small guest disk for the cloud simulator: a real ext4 filesystem laid out like a Debian guest (os-release,
// machine-id, hostname, SSH host keys, a Kerberos keytab), as a qcow2. Built with mkfs.ext4 -d and qemu-img
// convert: no libguestfs appliance (tens of seconds under TCG), nothing downloaded. libguestfs inspects it
// as a Debian 12 guest, so virt-sysprep really works on it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface GuestIdentity {
  hostname: string;
  machineId: string;
}

export function makeGuestDisk(file: string, g: GuestIdentity): void {
  const root = `${file}.root`;
  const raw = `${file}.raw`;
  rmSync(root, { recursive: true, force: true });
  const put = (path: string, text: string, mode = 0o644): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text, { mode });
  };
  put('etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n');
  put('etc/debian_version', '12.8\n');
  put('etc/machine-id', `${g.machineId}\n`, 0o444);
  put('etc/hostname', `${g.hostname}\n`);
  put('etc/fstab', '/dev/vda / ext4 defaults 0 1\n');
  // Stand-ins with the real names: virt-sysprep removes files by path, never by content.
  put('etc/ssh/ssh_host_ed25519_key', 'lab guest host key (stand-in)\n', 0o600);
  put('etc/ssh/ssh_host_ed25519_key.pub', 'ssh-ed25519 AAAA lab-guest\n');
  put('etc/krb5.keytab', 'lab guest keytab (stand-in)\n', 0o600);
  for (const d of ['bin', 'sbin', 'usr/bin', 'var/log', 'var/lib', 'tmp', 'root']) mkdirSync(join(root, d), { recursive: true });
  execFileSync('truncate', ['-s', '64M', raw]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, raw]);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, file]);
  rmSync(root, { recursive: true, force: true });
  rmSync(raw, { force: true });
}
