/**
 * The length of a value's JSON text, without writing the text.
 *
 * The primary measures every order entry it piggybacks against `piggybackCharsMax`, a budget in
 * JSON characters. `JSON.stringify(entry).length` built a string of ~100 characters per request
 * only to read its length, on the process every batch waits for. The common shapes (plain objects,
 * arrays, strings, numbers, booleans, `null`) are measured here in one walk; anything else (a
 * `toJSON`, a class instance, a map, a date, a typed array, a bigint, a nesting past
 * `JSON_LENGTH_DEPTH_MAX`) is handed to `JSON.stringify` itself, so the result is always the
 * length `JSON.stringify` gives, and it throws where `JSON.stringify` throws (a cycle, a bigint).
 */

/** `JSON.stringify(value).length`, or 0 when `JSON.stringify` gives `undefined` (a function, `undefined`). */
export function jsonLength(value: unknown): number {
  const length = lengthOf(value, 0);
  return length === OMITTED ? 0 : length;
}

/** What `JSON.stringify` leaves out of an object and writes as `null` in an array. */
const OMITTED = -1;

/** Past this nesting, the rest is measured by `JSON.stringify` (which also reports a cycle). */
export const JSON_LENGTH_DEPTH_MAX = 64;

function lengthOf(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return stringLength(value);
    case 'number':
      return numberLength(value);
    case 'boolean':
      return value ? 4 : 5;
    case 'undefined':
    case 'function':
    case 'symbol':
      return OMITTED;
    case 'object':
      break;
    default:
      return stringifiedLength(value);
  }
  if (value === null) return 4;
  if (depth >= JSON_LENGTH_DEPTH_MAX || typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return stringifiedLength(value);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Array.prototype) {
    const items = value as readonly unknown[];
    let length = items.length > 0 ? 1 + items.length : 2;
    for (let index = 0; index < items.length; index++) {
      const item = lengthOf(items[index], depth + 1);
      length += item === OMITTED ? 4 : item;
    }
    return length;
  }
  if (prototype !== Object.prototype && prototype !== null) return stringifiedLength(value);
  let length = 1;
  let members = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = lengthOf((value as Record<string, unknown>)[key], depth + 1);
    if (item === OMITTED) continue;
    length += stringLength(key) + 1 + item;
    members++;
  }
  // The braces and the commas between members.
  return length + (members > 0 ? members : 1);
}

function stringifiedLength(value: unknown): number {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? OMITTED : text.length;
}

/** Powers of ten up to 1e21, exact as doubles: the widths of the integers JSON writes in plain digits. */
const POWERS_OF_TEN = Array.from({ length: 22 }, (_, exponent) => 10 ** exponent);

function numberLength(value: number): number {
  if (!Number.isFinite(value)) return 4; // null
  const magnitude = Math.abs(value);
  if (Number.isInteger(value) && magnitude < 1e21) {
    let digits = 1;
    while (digits < 21 && magnitude >= POWERS_OF_TEN[digits]!) digits++;
    // -0 is written 0.
    return value < 0 ? digits + 1 : digits;
  }
  return String(value).length;
}

/** A string's JSON text: the quotes, and each unit as itself or its escape. */
function stringLength(value: string): number {
  let length = 2 + value.length;
  for (let index = 0; index < value.length; index++) {
    const unit = value.charCodeAt(index);
    if (unit >= 0x20 && unit !== 0x22 && unit !== 0x5c && (unit < 0xd800 || unit > 0xdfff)) continue;
    if (unit === 0x22 || unit === 0x5c || unit === 0x08 || unit === 0x09 || unit === 0x0a) length += 1;
    else if (unit === 0x0c || unit === 0x0d) length += 1;
    else if (unit < 0x20)
      length += 5; // \u00XX
    else if (unit <= 0xdbff && (value.charCodeAt(index + 1) & 0xfc00) === 0xdc00)
      index++; // a pair: as is
    else length += 5; // a lone surrogate: \uXXXX
  }
  return length;
}
