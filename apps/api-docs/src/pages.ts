/**
 * The pages of docs/api/ as prettier formats them, so what `pnpm docs:api` writes passes
 * `prettier --check` and the test can compare the files with a fresh rendering byte for byte.
 */
import prettier from 'prettier';
import {
  pageName,
  readApi,
  renderIndex,
  renderPage,
  undocumented,
  workspacePackages,
} from './api-reference.js';

/** The API reference's pages by file name (`README.md` and one per entry point), and the names without docs. */
export async function apiPages(
  root: string,
): Promise<{ pages: Map<string, string>; undocumentedNames: string[] }> {
  const points = readApi(root, workspacePackages(root));
  const options = { ...(await prettier.resolveConfig(`${root}/docs/api/README.md`)), parser: 'markdown' };
  const pages = new Map<string, string>();
  pages.set('README.md', await prettier.format(renderIndex(points), options));
  for (const point of points) pages.set(pageName(point), await prettier.format(renderPage(point), options));
  return { pages, undocumentedNames: undocumented(points) };
}
