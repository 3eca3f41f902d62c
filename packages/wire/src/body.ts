/**
 * A message body as the bytes it travels as: the msgpack encoding the codec gives a body (the same
 * options), for a layer that must carry a body too large for one frame in several parts and put it
 * back together on the other side (the replication layer's state transfers and flush replies).
 * `decodeBody` never throws: bytes that are not one msgpack value are an error result.
 */
import { Packr } from 'msgpackr';

// The codec's options (codec.ts): plain maps, no records, typed arrays and sets kept, buffers copied.
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: true, copyBuffers: true });

/** The msgpack bytes of `value`, owned (not a view into a shared buffer). */
export function encodeBody(value: unknown): Uint8Array {
  return Uint8Array.from(packr.pack(value));
}

/** What `decodeBody` gives: the one value the bytes encode, or why they are not one msgpack value. */
export type DecodedBody =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

/** The value `bytes` encode, or why they do not encode one (truncated, trailing bytes, malformed). */
export function decodeBody(bytes: Uint8Array): DecodedBody {
  try {
    const values = packr.unpackMultiple(bytes) as unknown[];
    if (values.length !== 1) return { ok: false, error: `expected one value, found ${values.length}` };
    return { ok: true, value: values[0] };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
