// Invariant: describing any value never throws, tells a string from a number, and stays short.
import { describe, expect, it } from 'vitest';
import { describeValue } from './describe.js';

describe('describeValue', () => {
  it('renders JSON where the value has one, String where it has none or JSON throws', () => {
    expect(describeValue('64')).toBe('"64"');
    expect(describeValue(64)).toBe('64');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(2n)).toBe('2');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(describeValue(cycle)).toBe('[object Object]');
  });

  it('cuts long renderings to 80 characters', () => {
    const text = describeValue('x'.repeat(500));
    expect(text).toHaveLength(80);
    expect(text.endsWith('...')).toBe(true);
  });
});
