/**
 * A short, safe rendering of an untrusted value for an error message: JSON where the value has one
 * (so the string `"64"` and the number `64` read apart), `String(value)` where it has none or
 * `JSON.stringify` throws (a bigint, a cycle), cut to 80 characters. Messages that name a bad
 * field of a body or a configuration use it, so a hostile or huge value can neither throw while
 * the error is built nor flood a log.
 */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
