// Node ids key records that travel in msgpack frames. Invariant: every name `nodeId` accepts comes
// back from a msgpack round trip as the same key, so a node's acknowledgements, votes and client
// entries arrive under its own name; `__proto__` is the one name the pattern allows that msgpackr's
// decoder renames, and it is refused with an error that says so.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { InvalidIdError, isMessageId, isNodeId, nodeId } from './ids.js';

const packr = new Packr({ useRecords: false });

describe('nodeId', () => {
  it('accepts the names of Object.prototype members that survive msgpack as keys', () => {
    for (const name of ['toString', 'constructor', 'valueOf', 'hasOwnProperty', '__defineGetter__']) {
      expect(nodeId(name)).toBe(name);
      expect(isNodeId(name)).toBe(true);
      const record = JSON.parse(`{${JSON.stringify(name)}: 1}`) as Record<string, number>;
      expect(Object.keys(packr.unpack(packr.pack(record)) as object)).toEqual([name]);
    }
  });

  it('refuses __proto__, which msgpack decoding renames, saying why', () => {
    const record = JSON.parse('{"__proto__": 1}') as Record<string, number>;
    expect(Object.keys(packr.unpack(packr.pack(record)) as object)).not.toEqual(['__proto__']);
    expect(() => nodeId('__proto__')).toThrow(InvalidIdError);
    expect(() => nodeId('__proto__')).toThrow(/reserved, because msgpack decoders rename that key/);
    expect(isNodeId('__proto__')).toBe(false);
  });

  it('refuses names outside the pattern', () => {
    for (const bad of ['', 'a/b', 'a:b', 'x'.repeat(65), 'ü']) {
      expect(() => nodeId(bad)).toThrow(/use 1-64 of/);
      expect(isNodeId(bad)).toBe(false);
    }
  });
});

describe('isMessageId', () => {
  it('takes an id in its object form, and nothing else, without a throw', () => {
    expect(isMessageId({ origin: 'n1', incarnation: 0, sequence: 7 })).toBe(true);
    for (const bad of [
      null,
      'n1:0:7',
      ['n1', 0, 7],
      { origin: 'n1', incarnation: 0 },
      { origin: '__proto__', incarnation: 0, sequence: 1 },
      { origin: 'bad id', incarnation: 0, sequence: 1 },
      { origin: 'n1', incarnation: -1, sequence: 1 },
      { origin: 'n1', incarnation: 0, sequence: 1.5 },
      { origin: 'n1', incarnation: 0, sequence: 2 ** 53 },
    ])
      expect(isMessageId(bad), JSON.stringify(bad)).toBe(false);
  });
});
