import { describe, expect, it } from 'vitest';
import { actorRegistry } from './actor.js';
import { SimulatedClock } from './clock.js';
import { entropyFrom } from './entropy.js';
import { Node } from './node.js';
import { replayTrace } from './replay.js';
import { MemoryTrace } from './trace.js';
import { decodeTrace, encodeTrace } from './trace-file.js';
import { changedCounterActor, counterActor, pingActor } from './test-actors.test-support.js';

function seeded(seed: number) {
  let state = seed;
  return entropyFrom(() => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  });
}

async function recordRun() {
  const trace = new MemoryTrace();
  const clock = new SimulatedClock(1_000);
  const node = new Node({ id: 'n1', incarnation: 1, clock, trace, entropy: seeded(7) });
  const counter = node.spawn('counter', counterActor);
  const ping = node.spawn('ping', pingActor);
  for (let index = 1; index <= 5; index++) {
    clock.advance(10);
    await node.request(counter, { type: 'inc', by: index });
    await node.request(ping, { type: 'ping', text: `p${index}` });
  }
  return encodeTrace({ test: 'replay' }, trace.events);
}

describe('trace replay', () => {
  it('re-drives a recorded run with 0 divergences (record → file → replay)', async () => {
    const file = decodeTrace(await recordRun());
    const report = replayTrace(file.events, { registry: actorRegistry([counterActor, pingActor]) });
    expect(report.divergences).toBe(0);
    expect(report.firstDivergence).toBeNull();
    // 2 spawns, 10 deliveries and the ping actor's timer tick at 50 ms of virtual time.
    const recordedSteps = file.events.filter((event) =>
      ['spawn', 'deliver', 'timer'].includes(event.type),
    ).length;
    expect(recordedSteps).toBe(13);
    expect(report.steps).toBe(recordedSteps);
  });

  // A refused input (`RejectedInputError`: a body that is no event, an event no transition takes)
  // is what the node did too: a counted drop, its sends withheld. Replaying it is no divergence.
  it('replays inputs the actor refused as the node did, with 0 divergences', async () => {
    const trace = new MemoryTrace();
    const clock = new SimulatedClock(1_000);
    const node = new Node({ id: 'n1', incarnation: 1, clock, trace, entropy: seeded(7) });
    const ping = node.spawn('ping', pingActor);
    await node.request(ping, { type: 'ping', text: 'before' });
    node.tell(ping, { type: 'no-such-event' });
    node.tell(ping, { notAnEvent: true });
    await node.request(ping, { type: 'ping', text: 'after' });
    expect(node.counters().dropped['rejected-input']).toBe(2);
    const file = decodeTrace(encodeTrace({ test: 'replay-refused' }, trace.events));
    const report = replayTrace(file.events, { registry: actorRegistry([pingActor]) });
    expect(report.firstDivergence).toBeNull();
    expect(report.steps).toBe(5);
  });

  it('detects a deliberately changed actor at the first event it gets wrong', async () => {
    const file = decodeTrace(await recordRun());
    const report = replayTrace(file.events, { registry: actorRegistry([changedCounterActor, pingActor]) });
    expect(report.divergences).toBeGreaterThan(0);
    const first = report.firstDivergence!;
    // The changed counter replies 2 instead of 1 to the first `inc`: the reply is the first
    // recorded event it contradicts.
    const firstReplyIndex = file.events.findIndex(
      (event) => event.type === 'send' && event.actor === 'counter' && event.envelope.kind === 'async-reply',
    );
    expect(first.eventIndex).toBe(firstReplyIndex);
    expect(first.kind).toBe('send');
    expect(first.actor).toBe('counter');
    expect(first.expected).toContain('"total":1');
    expect(first.actual).toContain('"total":2');
  });

  it('reports an actor kind missing from the registry', async () => {
    const file = decodeTrace(await recordRun());
    const report = replayTrace(file.events, { registry: actorRegistry([counterActor]) });
    expect(report.firstDivergence?.kind).toBe('unknown-kind');
  });
});

describe('trace file', () => {
  it('round-trips events byte for byte (same events, same bytes)', async () => {
    const bytes = await recordRun();
    const decoded = decodeTrace(bytes);
    expect(encodeTrace({ test: 'replay' }, decoded.events)).toEqual(bytes);
    expect(decoded.header.meta).toEqual({ test: 'replay' });
  });

  it('reports a truncated file as truncated, wherever it is cut', async () => {
    const bytes = await recordRun();
    for (const cut of [12, 30, Math.floor(bytes.length / 2), bytes.length - 1]) {
      expect(() => decodeTrace(bytes.subarray(0, cut))).toThrow(/truncated/);
    }
  });

  it('reports a flipped byte as corrupt, and a foreign file as not a trace', async () => {
    const bytes = new Uint8Array(await recordRun());
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    expect(() => decodeTrace(bytes)).toThrow(/corrupt|truncated/);
    expect(() => decodeTrace(new TextEncoder().encode('{"hello": "world"}'))).toThrow(
      /not a Steadfast trace/,
    );
    const future = new Uint8Array(bytes);
    future[9] = 99;
    expect(() => decodeTrace(future)).toThrow(/version 99 is not supported/);
  });
});
