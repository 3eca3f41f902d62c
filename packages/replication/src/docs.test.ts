// The reference in docs/replication.md ("The API") against the code it describes, so the two cannot
// drift apart. Invariant: the settings table has one row per `ReplicationSettings` field, with the
// default `REPLICATION_DEFAULTS` holds; the text names replication's connection defaults with their
// values; the policy table names every built-in policy.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { POLICY_NAMES } from './policy.js';
import { REPLICATION_DEFAULTS } from './types.js';

const doc = readFileSync(new URL('../../../docs/replication.md', import.meta.url), 'utf8');

/** The lines of the section headed `heading` (up to the next heading of the same level or higher). */
function section(heading: string): string[] {
  const lines = doc.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`docs/replication.md has no heading '${heading}'`);
  const level = heading.indexOf(' ');
  const end = lines.findIndex(
    (line, index) => index > start && /^#+ /.test(line) && line.indexOf(' ') <= level,
  );
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The table rows of `lines`, each as its cells (header and rule rows left out). */
function rows(lines: readonly string[]): string[][] {
  return lines
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}

describe('docs/replication.md, "The API"', () => {
  it('lists every replication setting with its default', () => {
    const table = new Map(rows(section('### Settings (`ReplicationSettings`)')).map((row) => [row[0], row]));
    const names = Object.keys(REPLICATION_DEFAULTS);
    expect([...table.keys()].sort()).toEqual(names.map((name) => `\`${name}\``).sort());
    for (const [name, value] of Object.entries(REPLICATION_DEFAULTS)) {
      if (name === 'connection') continue;
      const documented = table.get(`\`${name}\``)![1]!;
      expect(documented.replaceAll('`', ''), name).toBe(String(value));
    }
  });

  it("names replication's connection defaults with their values", () => {
    const text = section('### Settings (`ReplicationSettings`)').join(' ').replace(/\s+/g, ' ');
    for (const [name, value] of Object.entries(REPLICATION_DEFAULTS.connection))
      expect(text, name).toContain(`\`${name}\` ${String(value)}`);
  });

  it('names every built-in ordering policy', () => {
    const table = rows(section('### Ordering policies (claims 5, 39)')).map((row) => row[0]!);
    expect(table).toHaveLength(POLICY_NAMES.length);
    for (const name of POLICY_NAMES)
      expect(
        table.some((cell) => cell.startsWith(`\`${name}Policy`)),
        name,
      ).toBe(true);
  });
});
