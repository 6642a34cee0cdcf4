// Plans are the commands: every line shown at a gate or in a dry run is rendered from the very object the
// step executes, and the fingerprint is computed over that object (argv, stdin's size and sha256,
// environment, working directory, timeout, each end of a pipe with its transform, an activity's request).
// An approver who quotes the fingerprint approves exactly what will run.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { Command } from './commands.js';
import type { ActivityCall, Runnable } from './steps.js';

export interface PlanItem {
  kind: 'step' | 'gate';
  name: string;
  effect?: 'read-only' | 'idempotent' | 'once';
  danger?: boolean;
  /** The condition it runs under, when it has one that could not be decided yet. */
  condition?: string;
  commands: string[];
}

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
const word = (a: string): string => (PLAIN_WORD.test(a) ? a : JSON.stringify(a));

/** The sha256 of a text, hex. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}

/** One line per command, as an SRE would type it, with everything that shapes what it does. */
export function renderCommand(c: Command): string {
  const where = c.kind === 'remote' ? `${c.host}$ ` : 'worker$ ';
  const cd = c.cwd ? `cd ${word(c.cwd)} && ` : '';
  const env = Object.entries(c.env ?? {})
    .map(([k, v]) => `${k}=${word(v)} `)
    .join('');
  const sudo = c.kind === 'remote' && c.sudo ? 'sudo ' : '';
  const limit = c.timeoutSeconds ? `timeout ${c.timeoutSeconds} ` : '';
  const stdin = c.stdin !== undefined ? ` < stdin(${utf8ToBytes(c.stdin).length} bytes, sha256 ${sha256Hex(c.stdin).slice(0, 16)})` : '';
  return `${where}${cd}${env}${sudo}${limit}${c.argv.map(word).join(' ')}${stdin}`;
}

/** The command as fingerprinted: stdin by size and digest, the rest as is, keys in a fixed order. */
export function canonicalCommand(c: Command): Record<string, unknown> {
  return {
    kind: c.kind,
    host: c.kind === 'remote' ? c.host : 'worker',
    argv: c.argv,
    sudo: c.kind === 'remote' ? Boolean(c.sudo) : false,
    cwd: c.cwd ?? null,
    env: Object.fromEntries(Object.entries(c.env ?? {}).sort(([a], [b]) => a.localeCompare(b))),
    timeoutSeconds: c.timeoutSeconds ?? null,
    stdin: c.stdin === undefined ? null : { bytes: utf8ToBytes(c.stdin).length, sha256: sha256Hex(c.stdin) },
  };
}

function isActivity(r: Runnable): r is ActivityCall {
  return !Array.isArray(r) && r.kind === 'activity';
}

interface PipeShape {
  from: Command;
  to: Command;
  limitBytesPerSecond?: number;
  transform?: { encryptTo?: string[]; decrypt?: boolean };
}

function isPipe(a: ActivityCall): a is ActivityCall<'pipeCommands'> {
  return a.activity === 'pipeCommands';
}

function renderPipe(p: PipeShape): string {
  const t = p.transform;
  const mid = t?.decrypt
    ? ' | worker$ age --decrypt'
    : t?.encryptTo?.length
      ? ` | worker$ age --encrypt ${t.encryptTo.map((r) => `-r ${r.slice(0, 16)}…`).join(' ')}`
      : '';
  const cap = p.limitBytesPerSecond ? ` (at most ${Math.round(p.limitBytesPerSecond / 1048576)} MiB/s)` : '';
  return `${renderCommand(p.from)}${mid} | ${renderCommand(p.to)}${cap}`;
}

/** The request with every command in it canonical, so the fingerprint covers stdin and environment. */
function canonicalRequest(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalRequest);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ((o.kind === 'remote' || o.kind === 'local') && Array.isArray(o.argv)) return canonicalCommand(o as unknown as Command);
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .filter((k) => o[k] !== undefined)
        .map((k) => [k, canonicalRequest(o[k])]),
    );
  }
  return value;
}

/** What a runnable shows in a plan. */
export function renderRunnable(r: Runnable): string[] {
  if (isActivity(r)) {
    if (isPipe(r)) return [renderPipe(r.request)];
    const request = JSON.stringify(canonicalRequest(r.request));
    return [...(r.shows ?? []), `worker: activity ${r.activity} ${request}`];
  }
  return (Array.isArray(r) ? r : [r]).map(renderCommand);
}

/** What a runnable contributes to a fingerprint: exactly what will execute. */
export function canonicalRunnable(r: Runnable): unknown {
  if (isActivity(r)) return { activity: r.activity, request: canonicalRequest(r.request) };
  return (Array.isArray(r) ? r : [r]).map(canonicalCommand);
}

/** sha256 over canonical JSON. */
export function fingerprintOf(value: unknown): string {
  return sha256Hex(JSON.stringify(value));
}

/**
 * The part of a runnable an approval binds the later execution to: everything but time limits (a
 * procedure may give a step what is left of a phase deadline, which shrinks between gate and step).
 */
export function bindingOf(canonical: unknown): string {
  return sha256Hex(JSON.stringify(canonical, (k, v) => (k === 'timeoutSeconds' ? undefined : v)));
}
