/**
 * UTF-8 length of a string as msgpackr encodes strings of fewer than 64 UTF-16 units by hand: a
 * surrogate pair takes 4 bytes and an unpaired surrogate 3 (its own encoding, not U+FFFD). The
 * group layer sizes messages with it, the state hash writes string headers with it.
 */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if ((code & 0xfc00) === 0xd800 && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}
