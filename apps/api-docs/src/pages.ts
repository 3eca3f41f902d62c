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
  pages.set('README.md', await formatSettled(renderIndex(points), options));
  for (const point of points) pages.set(pageName(point), await formatSettled(renderPage(point), options));
  return { pages, undocumentedNames: undocumented(points) };
}

/**
 * Formats `markdown` again until prettier leaves it as it is. One pass is not always enough: a
 * signature in a code block that the first pass breaks over lines can fit on one line after it (seen
 * with `benchChain`'s return type), and `prettier --check` would then refuse the page as written.
 */
async function formatSettled(markdown: string, options: prettier.Options): Promise<string> {
  let formatted = await prettier.format(markdown, options);
  for (let pass = 1; pass < FORMAT_PASSES_MAX; pass++) {
    const again = await prettier.format(formatted, options);
    if (again === formatted) return formatted;
    formatted = again;
  }
  throw new Error(`prettier did not settle on one form of a page in ${FORMAT_PASSES_MAX} passes`);
}

/** Passes `formatSettled` makes before it gives up: one or two settle every page. */
const FORMAT_PASSES_MAX = 4;
