/**
 * Reading and writing plain-object records keyed by values that come from outside: node ids, stream
 * keys, group names, client ids. A valid node id may be the name of an `Object.prototype` member
 * (`toString`, `constructor`, `valueOf`, `hasOwnProperty`, even `__proto__`: `[A-Za-z0-9._-]{1,64}`
 * allows them all), so `record[id]` may find an inherited function where no entry is, and
 * `record[id] = value` with `__proto__` runs the prototype setter instead of adding an entry (a
 * no-op for a number or `true`, a changed prototype for an object).
 *
 * Why these helpers rather than `Object.create(null)` records or `Map`s: the records sit in state
 * that must stay plain data (hashed, compared in tests, cloned), and a null prototype does not
 * survive the ways that state is copied: `structuredClone`, a spread `{ ...record }`, `JSON.parse`
 * and msgpack all give an ordinary object back, with `Object.prototype` under it again. An own-property
 * read is right whatever the prototype, and a `__proto__` entry written as an own data property is
 * kept as one by `structuredClone`, spread and `JSON` (all define, never set, properties), so the
 * same helpers stay correct on every copy. (`Object.assign` and msgpackr's decoder do not keep an
 * own `__proto__` key; nothing copies these records that way.)
 */

/** The entry under `key`, if the record has one of its own (never an inherited member). */
export function lookup<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Sets the entry under `key` as an own data property, `__proto__` included (an assignment would run
 * the prototype setter for that one key), and returns `value`.
 */
export function setEntry<T>(record: Record<string, T>, key: string, value: T): T {
  if (key === '__proto__')
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  else record[key] = value;
  return value;
}
