// Module hooks (node:module register): a `.sh` or `.py` file imports as a module whose default export
// is the file's text.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HOST_SCRIPT = /\.(sh|py)$/;

interface LoadResult {
  format: string;
  source?: string;
  shortCircuit?: boolean;
}

export async function load(url: string, context: object, next: (url: string, context: object) => Promise<LoadResult>): Promise<LoadResult> {
  if (!HOST_SCRIPT.test(new URL(url).pathname)) return next(url, context);
  const text = readFileSync(fileURLToPath(url), 'utf8');
  return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
}
