// The API reference (docs/api/) against the code. Invariants: every name a workspace package
// exports has a doc comment, and every entry point's file opens with a comment saying what it is
// for; docs/api/ holds exactly the pages `pnpm docs:api` would write from those comments now. The
// first test shows on a package of its own that the check finds what is missing.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  readApi,
  renderPage,
  undocumented,
  withoutImportQualifiers,
  workspacePackages,
} from './api-reference.js';
import { apiPages } from './pages.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('the API reference', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'api-docs-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds an exported name without a doc comment, and an entry point without its opening comment', () => {
    mkdirSync(join(scratch, 'packages', 'tiny', 'src'), { recursive: true });
    writeFileSync(join(scratch, 'tsconfig.base.json'), readFileSync(join(root, 'tsconfig.base.json')));
    writeFileSync(
      join(scratch, 'packages', 'tiny', 'package.json'),
      JSON.stringify({
        name: '@steadfast/tiny',
        exports: { '.': './src/index.ts', './extra': './src/extra.ts' },
      }),
    );
    writeFileSync(
      join(scratch, 'packages', 'tiny', 'src', 'index.ts'),
      [
        '/** A tiny package. */',
        '',
        '/** Adds one. */',
        'export function increment(value: number): number {',
        '  return value + 1;',
        '}',
        'export const UNDOCUMENTED_LIMIT = 3;',
        '/** A shape. */',
        'export interface Shape {',
        '  /** Its side, in metres. */',
        '  readonly sideM: number;',
        '}',
        '',
      ].join('\n'),
    );
    writeFileSync(join(scratch, 'packages', 'tiny', 'src', 'extra.ts'), 'export type Extra = string;\n');
    const points = readApi(scratch, workspacePackages(scratch));
    expect(points.map((point) => point.specifier)).toEqual(['@steadfast/tiny', '@steadfast/tiny/extra']);
    expect(undocumented(points)).toEqual([
      '@steadfast/tiny: UNDOCUMENTED_LIMIT',
      '@steadfast/tiny/extra: (the comment that opens packages/tiny/src/extra.ts)',
      '@steadfast/tiny/extra: Extra',
    ]);
    const page = renderPage(points[0]!);
    expect(page).toContain('function increment(value: number): number');
    expect(page).toContain('/** Its side, in metres. */');
    expect(page).toContain('Adds one.');
  });

  it('writes no path of the checkout into a page (they must read the same on every machine)', async () => {
    expect(
      withoutImportQualifiers(
        `const a: import("/work/x/node_modules/xstate/dist/xstate.cjs").StateMachine<T>;`,
      ),
    ).toBe('const a: StateMachine<T>;');
    const { pages } = await apiPages(root);
    for (const [name, text] of pages) expect(text.includes(root), name).toBe(false);
  });

  it('leaves no exported name of the workspace without a doc comment', () => {
    const points = readApi(root, workspacePackages(root));
    expect(points.length).toBeGreaterThan(0);
    expect(undocumented(points)).toEqual([]);
  });

  it('is current: docs/api/ holds the pages `pnpm docs:api` writes, and no others', async () => {
    const { pages } = await apiPages(root);
    const folder = join(root, 'docs', 'api');
    const written = readdirSync(folder).filter((name) => name.endsWith('.md'));
    expect(written.sort(), 'run `pnpm docs:api`').toEqual([...pages.keys()].sort());
    for (const [name, text] of pages) {
      expect(
        readFileSync(join(folder, name), 'utf8'),
        `docs/api/${name} is not current: run \`pnpm docs:api\``,
      ).toBe(text);
    }
  });
});
