// The habits CI holds the code to: every host script passes shellcheck (Debian's, pinned by setup) and
// parses as Python where it is Python, and the sources are formatted by the pinned prettier.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const hostScripts = (ext: string): string[] =>
  readdirSync('workflows', { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .map((f) => join('workflows', f));

test('every shell host script passes shellcheck', () => {
  const files = hostScripts('.sh');
  assert.ok(files.length > 0, 'host scripts exist');
  const r = spawnSync('shellcheck', ['--external-sources', '--format=gcc', ...files], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `shellcheck runs (scripts/setup.sh installs it): ${r.error?.message}`);
  assert.equal(r.status, 0, r.stdout);
});

test('no host script builds code with eval', () => {
  for (const f of [...hostScripts('.sh'), ...hostScripts('.py')]) {
    assert.doesNotMatch(readFileSync(f, 'utf8'), /(^|[\s;(|&])eval\b/m, f);
  }
});

test('every Python host script compiles', () => {
  for (const f of hostScripts('.py')) {
    const r = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])', f], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

test('the sources are formatted (npm run format)', () => {
  const out = execFileSync(
    'node',
    ['node_modules/prettier/bin/prettier.cjs', '--list-different', 'workflows', 'activities', 'workers', 'scripts', 'test', 'bench', 'eslint.config.js'],
    {
      encoding: 'utf8',
    },
  ).trim();
  assert.equal(out, '', `not formatted:\n${out}`);
});
