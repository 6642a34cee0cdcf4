// A plan's fingerprint: sha256 over its canonical JSON. An approver who quotes it approves exactly that
// plan; if the plan changed since they read it, the approval is refused as stale.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

export function planFingerprint(plan: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(JSON.stringify(plan))));
}
