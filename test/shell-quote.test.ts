// The one quoting function: every value survives the trip through a real remote shell byte for byte.
import { labSshArgv } from '../scripts/lab/lab-ssh.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { InvalidCommandError, quoteArg, quoteArgv } from '../activities/ssh/shell-quote.js';
import { loadInventory } from '../workers/inventory.js';

const nasty = [
  'plain',
  'two words',
  "it's",
  '"double"',
  '$HOME',
  '`id`',
  '$(touch /tmp/pwned-by-quote-test)',
  'a\nb',
  'tab\there',
  'back\\slash',
  '*',
  '~',
  '-rf',
  '--help',
  '',
  ' ',
  "''",
  "'\\''",
  'héllo wörld ✓ 日本',
  ';|&<>(){}[]!#',
];

test('quoteArg leaves safe words alone and single-quotes the rest', () => {
  assert.equal(quoteArg('abc-1.2/x'), 'abc-1.2/x');
  assert.equal(quoteArg('two words'), "'two words'");
  assert.equal(quoteArg("it's"), `'it'\\''s'`);
  assert.equal(quoteArg(''), "''");
});

test('quoteArg refuses NUL bytes and non-strings; quoteArgv refuses empty argv', () => {
  assert.throws(() => quoteArg('a\0b'), InvalidCommandError);
  assert.throws(() => quoteArg(5 as unknown as string), InvalidCommandError);
  assert.throws(() => quoteArgv([]), InvalidCommandError);
});

test('every value round-trips through sh on the local machine', () => {
  for (const v of nasty) {
    const out = execFileSync('sh', ['-c', quoteArgv(['printf', '%s', v])]);
    assert.equal(out.toString('utf8'), v);
  }
});

test('every value round-trips through a real remote login shell over ssh, and nothing is executed', () => {
  const inv = loadInventory(process.env.RUNBOOK_INVENTORY);
  const h = inv.hosts['cloud-client']!;
  const ssh = (line: string): Buffer => execFileSync('ssh', [...labSshArgv(h).slice(1), line]);
  ssh('rm -f /tmp/pwned-by-quote-test');
  for (const v of nasty) {
    // printf %s\0 keeps each value exactly, including trailing newlines and spaces.
    assert.equal(ssh(quoteArgv(['printf', '%s', v])).toString('utf8'), v);
  }
  assert.equal(ssh('test -e /tmp/pwned-by-quote-test && echo yes || echo no').toString().trim(), 'no');
});
