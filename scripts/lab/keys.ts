// Keys are made at run time and never committed. Existing ones are reused so the host keys pinned in
// the inventory (and in anything that copied them) stay valid across down/up.
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** "ssh-ed25519 AAAA..." without the comment: the form the inventory pins and known_hosts takes. */
export function publicKeyLine(pubFileContent: string): string {
  const [type, b64] = pubFileContent.trim().split(/\s+/);
  if (!type || !b64) throw new Error(`not an OpenSSH public key: ${pubFileContent.slice(0, 60)}`);
  return `${type} ${b64}`;
}

/** Ensures an ed25519 key pair at `privateKey` (+ .pub) and returns the public key line. */
export async function ensureKeyPair(privateKey: string, comment: string): Promise<{ publicKey: string; created: boolean }> {
  const pub = `${privateKey}.pub`;
  let created = false;
  if (!(await exists(privateKey))) {
    await rm(pub, { force: true });
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKey], { stdin: 'ignore' });
    created = true;
  } else if (!(await exists(pub))) {
    const { stdout } = await execa('ssh-keygen', ['-y', '-f', privateKey], { stdin: 'ignore' });
    await writeFile(pub, `${stdout.trim()} ${comment}\n`, { mode: 0o644 });
  }
  return { publicKey: publicKeyLine(await readFile(pub, 'utf8')), created };
}
