/**
 * The API reference: every name a workspace package exports (each entry point its package.json
 * lists under `exports`), with its kind, its declaration and its doc comment, as the TypeScript
 * compiler reads them. `pnpm docs:api` writes the result to docs/api/; the test beside this module
 * fails when an exported name has no doc comment, or when docs/api/ is not what this module would
 * write now, so the reference cannot drift from the code.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** A workspace package whose exports the reference covers. */
export interface ApiPackage {
  /** The package's name, `@steadfast/wire`. */
  readonly name: string;
  /** Its folder, relative to the repository's root: `packages/wire`. */
  readonly folder: string;
  /** Its entry points: the subpath (`.`, `./testing`) and the source file it maps to. */
  readonly entries: readonly { readonly subpath: string; readonly file: string }[];
}

/** One exported name, as the reference shows it. */
export interface ApiEntry {
  readonly name: string;
  /** `function`, `class`, `interface`, `type`, `const`, `enum` or `namespace`. */
  readonly kind: string;
  /**
   * The declaring file, relative to the repository's root. No line: the pages change when the API
   * or its docs change, not whenever code above a declaration moves.
   */
  readonly source: string;
  /** The declaration as TypeScript text: a signature, a type or the declared shape. */
  readonly declaration: string;
  /** The doc comment's text, with its tags (`@param`, `@returns`, …) after it; empty when none. */
  readonly doc: string;
}

/** The entries of one entry point of one package, in the order the entry point exports them. */
export interface ApiEntryPoint {
  readonly packageName: string;
  /** The import specifier: `@steadfast/wire` or `@steadfast/runtime/testing`. */
  readonly specifier: string;
  readonly file: string;
  /** The entry point's own doc comment (the first comment of its file). */
  readonly summary: string;
  readonly entries: readonly ApiEntry[];
}

/** A declaration longer than this many characters is cut in the reference (its source is linked). */
export const DECLARATION_CHARS_MAX = 4_000;

/** The workspace packages under `packages/` and `apps/` that have `exports`, sorted by folder. */
export function workspacePackages(root: string): ApiPackage[] {
  const folders = ['packages', 'apps'].flatMap((parent) =>
    ts.sys.getDirectories(join(root, parent)).map((name) => `${parent}/${name}`),
  );
  const packages: ApiPackage[] = [];
  for (const folder of folders.sort()) {
    const manifestPath = join(root, folder, 'package.json');
    if (!ts.sys.fileExists(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      name: string;
      exports?: Record<string, string>;
    };
    if (manifest.exports === undefined) continue;
    const entries = Object.entries(manifest.exports).map(([subpath, file]) => ({
      subpath,
      file: join(folder, file),
    }));
    packages.push({ name: manifest.name, folder, entries });
  }
  return packages;
}

/** Reads every entry point of `packages` with one TypeScript program. */
export function readApi(root: string, packages: readonly ApiPackage[]): ApiEntryPoint[] {
  const files = packages.flatMap((pkg) => pkg.entries.map((entry) => join(root, entry.file)));
  const configPath = join(root, 'tsconfig.base.json');
  const config = ts.parseJsonConfigFileContent(
    ts.readConfigFile(configPath, ts.sys.readFile).config,
    ts.sys,
    root,
  );
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  return packages.flatMap((pkg) =>
    pkg.entries.map((entry) => {
      const sourceFile = program.getSourceFile(join(root, entry.file));
      if (sourceFile === undefined) throw new Error(`${entry.file} (${pkg.name}) could not be read`);
      const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
      const exported = moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol);
      return {
        packageName: pkg.name,
        specifier: entry.subpath === '.' ? pkg.name : `${pkg.name}/${entry.subpath.slice(2)}`,
        file: entry.file,
        summary: fileSummary(sourceFile),
        entries: exported.map((symbol) => describe(root, checker, symbol)),
      };
    }),
  );
}

/**
 * What `entryPoints` leave undocumented, as `specifier: name`: each exported name with no doc
 * comment, and each entry point whose file does not open with a comment saying what it is for.
 */
export function undocumented(entryPoints: readonly ApiEntryPoint[]): string[] {
  return entryPoints.flatMap((point) => [
    ...(point.summary === '' ? [`${point.specifier}: (the comment that opens ${point.file})`] : []),
    ...point.entries.filter((entry) => entry.doc === '').map((entry) => `${point.specifier}: ${entry.name}`),
  ]);
}

function describe(root: string, checker: ts.TypeChecker, exported: ts.Symbol): ApiEntry {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const declaration = symbol.declarations?.[0];
  if (declaration === undefined) {
    return { name: exported.name, kind: 'unknown', source: '', declaration: '', doc: '' };
  }
  return {
    name: exported.name,
    kind: kindOf(declaration),
    source: relative(root, declaration.getSourceFile().fileName),
    declaration: declarationText(checker, symbol, declaration),
    doc: docText(checker, symbol),
  };
}

function kindOf(declaration: ts.Declaration): string {
  if (ts.isFunctionDeclaration(declaration)) return 'function';
  if (ts.isClassDeclaration(declaration)) return 'class';
  if (ts.isInterfaceDeclaration(declaration)) return 'interface';
  if (ts.isTypeAliasDeclaration(declaration)) return 'type';
  if (ts.isEnumDeclaration(declaration)) return 'enum';
  if (ts.isModuleDeclaration(declaration)) return 'namespace';
  if (ts.isVariableDeclaration(declaration)) {
    return declaration.parent.flags & ts.NodeFlags.Const ? 'const' : 'let';
  }
  return ts.SyntaxKind[declaration.kind];
}

/**
 * What the reference shows of a declaration. Interfaces and type aliases: their source text, which
 * carries their members' own doc comments. Functions: their signatures. Classes: the constructor and
 * the public members' signatures. Constants: their declared type, or the type the checker infers.
 */
function declarationText(checker: ts.TypeChecker, symbol: ts.Symbol, declaration: ts.Declaration): string {
  const text = ((): string => {
    if (ts.isInterfaceDeclaration(declaration) || ts.isTypeAliasDeclaration(declaration)) {
      return withoutExport(declaration.getText());
    }
    if (ts.isFunctionDeclaration(declaration)) {
      const type = checker.getTypeOfSymbol(symbol);
      return type
        .getCallSignatures()
        .map((signature) => `function ${symbol.name}${signatureText(checker, signature)}`)
        .join('\n');
    }
    if (ts.isClassDeclaration(declaration)) return classText(checker, symbol, declaration);
    if (ts.isVariableDeclaration(declaration)) {
      const typeText =
        declaration.type?.getText() ??
        checker.typeToString(checker.getTypeOfSymbol(symbol), declaration, ts.TypeFormatFlags.NoTruncation);
      return `const ${symbol.name}: ${typeText}`;
    }
    return withoutExport(declaration.getText());
  })();
  const portable = withoutImportQualifiers(text);
  return portable.length > DECLARATION_CHARS_MAX
    ? `${portable.slice(0, DECLARATION_CHARS_MAX)}\n// … (cut)`
    : portable;
}

/**
 * The checker writes a type it infers from another module as `import("/abs/path/module").Name`:
 * the checkout's own path, which differs on every machine (and would make the pages differ with
 * it). The reference shows the bare name.
 */
export function withoutImportQualifiers(text: string): string {
  return text.replace(/import\((["'])[^"']*\1\)\./g, '');
}

function signatureText(checker: ts.TypeChecker, signature: ts.Signature): string {
  return checker.signatureToString(signature, undefined, ts.TypeFormatFlags.NoTruncation);
}

function classText(checker: ts.TypeChecker, symbol: ts.Symbol, declaration: ts.ClassDeclaration): string {
  const heritage = declaration.heritageClauses?.map((clause) => ` ${clause.getText()}`).join('') ?? '';
  const lines = [`class ${symbol.name}${heritage} {`];
  for (const member of declaration.members) {
    const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
    if (
      modifiers.some(
        (m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword,
      )
    ) {
      continue;
    }
    if (member.name !== undefined && ts.isPrivateIdentifier(member.name)) continue;
    const memberSymbol = member.name === undefined ? undefined : checker.getSymbolAtLocation(member.name);
    const doc = memberSymbol === undefined ? '' : firstSentence(docText(checker, memberSymbol));
    const comment = doc === '' ? '' : `  /** ${doc} */\n`;
    const isStatic = modifiers.some((m) => m.kind === ts.SyntaxKind.StaticKeyword) ? 'static ' : '';
    const isReadonly = modifiers.some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword) ? 'readonly ' : '';
    if (ts.isConstructorDeclaration(member)) {
      const signature = checker.getSignatureFromDeclaration(member);
      if (signature !== undefined) lines.push(`${comment}  constructor${signatureText(checker, signature)};`);
    } else if (ts.isMethodDeclaration(member) || ts.isGetAccessorDeclaration(member)) {
      const name = member.name.getText();
      if (ts.isGetAccessorDeclaration(member)) {
        const type = checker.getTypeAtLocation(member);
        lines.push(`${comment}  ${isStatic}get ${name}(): ${checker.typeToString(type)};`);
      } else {
        const signature = checker.getSignatureFromDeclaration(member);
        if (signature !== undefined) {
          lines.push(`${comment}  ${isStatic}${name}${signatureText(checker, signature)};`);
        }
      }
    } else if (ts.isPropertyDeclaration(member) && memberSymbol !== undefined) {
      const type = member.type?.getText() ?? checker.typeToString(checker.getTypeOfSymbol(memberSymbol));
      lines.push(`${comment}  ${isStatic}${isReadonly}${member.name.getText()}: ${type};`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}

function withoutExport(text: string): string {
  return text.replace(/^export\s+(default\s+)?(declare\s+)?/, '');
}

/** The doc comment of `symbol`: its text, then one line per tag. */
function docText(checker: ts.TypeChecker, symbol: ts.Symbol): string {
  const body = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  const tags = symbol.getJsDocTags(checker).map((tag) => {
    const text = ts.displayPartsToString(tag.text).trim();
    return `@${tag.name}${text === '' ? '' : ` ${text}`}`;
  });
  return [body, ...tags].filter((part) => part !== '').join('\n');
}

function firstSentence(text: string): string {
  const flat = text.split('\n')[0]?.replace(/\s+/g, ' ').trim() ?? '';
  const end = flat.search(/\.(\s|$)/);
  return (end < 0 ? flat : flat.slice(0, end + 1)).replace(/\*\//g, '* /');
}

/** The first comment of a file: by the house style, the statement of the module's purpose. */
function fileSummary(sourceFile: ts.SourceFile): string {
  const ranges = ts.getLeadingCommentRanges(sourceFile.text, 0) ?? [];
  const first = ranges[0];
  if (first === undefined) return '';
  const raw = sourceFile.text.slice(first.pos, first.end);
  return raw
    .replace(/^\/\*\*?/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\*\s?/, '').replace(/^\s*\/\/\s?/, ''))
    .join('\n')
    .trim();
}

/** The file name of an entry point's page in docs/api/: `wire.md`, `runtime-testing.md`. */
export function pageName(point: ApiEntryPoint): string {
  return `${point.specifier.replace(/^@steadfast\//, '').replace(/\//g, '-')}.md`;
}

/** The markdown page of one entry point (before prettier's formatting). */
export function renderPage(point: ApiEntryPoint): string {
  const out: string[] = [
    `# \`${point.specifier}\``,
    '',
    '<!-- Written by `pnpm docs:api` from the doc comments in the code: edit those, not this file. -->',
    '',
    `Source: [\`${point.file}\`](../../${point.file})`,
    '',
  ];
  if (point.summary !== '') out.push(quoteDoc(point.summary), '');
  out.push(`${point.entries.length} exported names, by the file that declares them.`, '');
  const byFile = new Map<string, ApiEntry[]>();
  for (const entry of point.entries) {
    byFile.set(entry.source, [...(byFile.get(entry.source) ?? []), entry]);
  }
  for (const [file, entries] of byFile) {
    out.push(`## \`${file.split('/').slice(-1)[0] ?? file}\``, '', `[\`${file}\`](../../${file})`, '');
    for (const entry of entries) {
      out.push(`### \`${entry.name}\``, '');
      out.push(`_${entry.kind}_`, '');
      if (entry.doc !== '') out.push(quoteDoc(entry.doc), '');
      if (entry.declaration !== '') out.push('```ts', entry.declaration, '```', '');
    }
  }
  return out.join('\n');
}

/** The index page, docs/api/README.md: one line per entry point. */
export function renderIndex(points: readonly ApiEntryPoint[]): string {
  const out = [
    '# API reference',
    '',
    '<!-- Written by `pnpm docs:api` from the doc comments in the code: edit those, not this file. -->',
    '',
    'Every name each workspace package exports, with its declaration and its doc comment, one page',
    "per entry point (each entry of a package's `exports`). The guides in the folder above explain",
    'how the pieces fit; these pages are the reference. `pnpm docs:api` writes them, and a test',
    "fails when a page is not what the code's doc comments give, or when an exported name has none.",
    '',
  ];
  for (const point of points) {
    const summary = firstSentence(point.summary.replace(/\n/g, ' '));
    out.push(
      `- [\`${point.specifier}\`](${pageName(point)}): ${point.entries.length} names.${summary === '' ? '' : ` ${summary}`}`,
    );
  }
  out.push('');
  return out.join('\n');
}

/**
 * A doc comment as markdown: its text as it is (the comments are written as markdown), each tag on
 * a line of its own.
 */
function quoteDoc(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith('@') ? `\n${line.replace(/^@(\w+)/, '_@$1_')}` : line))
    .join('\n');
}
