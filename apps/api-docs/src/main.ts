/**
 * `pnpm docs:api`: writes the API reference (docs/api/) from the code's doc comments, one page per
 * entry point of each workspace package. `--check` writes nothing: it lists the exported names
 * without a doc comment and the pages that are not current, and exits with 1 if there are any.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPages } from './pages.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const check = process.argv.includes('--check');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  console.error(`usage: pnpm docs:api [--check]\nunknown argument: ${unknown.join(' ')}`);
  process.exit(2);
}

const started = Date.now();
const { pages, undocumentedNames } = await apiPages(root);
const folder = join(root, 'docs', 'api');
const stale = [...pages].filter(([name, text]) => read(join(folder, name)) !== text).map(([name]) => name);
const extra = listPages(folder).filter((name) => !pages.has(name));

if (check) {
  for (const name of undocumentedNames) console.log(`no doc comment: ${name}`);
  for (const name of stale) console.log(`not current: docs/api/${name}`);
  for (const name of extra) console.log(`no longer an entry point: docs/api/${name}`);
  const problems = undocumentedNames.length + stale.length + extra.length;
  console.log(
    problems === 0
      ? `docs/api/ is current: ${pages.size} pages (${Date.now() - started} ms)`
      : `${problems} problems; \`pnpm docs:api\` rewrites the pages, the doc comments are the code's`,
  );
  process.exit(problems === 0 ? 0 : 1);
}

mkdirSync(folder, { recursive: true });
for (const name of extra) rmSync(join(folder, name));
for (const [name, text] of pages) writeFileSync(join(folder, name), text);
console.log(
  `docs/api/: ${pages.size} pages, ${stale.length} rewritten, ${extra.length} removed (${Date.now() - started} ms)`,
);
if (undocumentedNames.length > 0) {
  console.log(
    `${undocumentedNames.length} exported names have no doc comment (\`pnpm docs:api --check\` lists them)`,
  );
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function listPages(path: string): string[] {
  try {
    return readdirSync(path).filter((name) => name.endsWith('.md'));
  } catch {
    return [];
  }
}
