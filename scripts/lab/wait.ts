// Readiness is waited on, never slept for: a condition is re-checked until it holds or a deadline passes.
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Calls `check` until it returns something other than undefined/false and returns that. If `check`
 * throws, waiting stops at once: that is how a probe reports "this will never succeed" (a dead process).
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 50;
  for (;;) {
    const r = await check();
    if (r !== undefined && r !== false) return r;
    if (Date.now() >= deadline) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}`);
    await delay(interval);
  }
}
