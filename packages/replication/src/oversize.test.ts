/**
 * An output no frame can carry (house rule: oversized payloads get a clear error or a counted
 * drop, never lost data or a stall). A replicated actor whose reply to one request is far larger
 * than a frame: the connection refuses that output as too large, the replica counts it as refused
 * (it is never retried, at the primary or after a failover), and every later output still flows —
 * the stream does not stall behind it.
 */
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { address, encodeBody } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { REPLICA_ACTOR_NAME, group } from './group.js';
import { bloatedLedger } from './oversize.test-support.js';
import { clientAndLedgers, runtimeReplicas } from './runtime-nodes.test-support.js';
import { client, ledger } from './workload.js';

describe('an output too large for any frame', () => {
  it('is refused and counted once, and the outputs after it still reach the client', async () => {
    const ledgerGroup = group(bloatedLedger, { replicas: 3, style: 'semi-active' });
    const clientGroup = group(client, { replicas: 1, style: 'semi-active' });
    const { tell, view, run, state } = runtimeReplicas(
      clientAndLedgers(ledgerGroup.replicaBehavior, clientGroup.replicaBehavior),
    );
    tell('c1', view('C', ['c1']));
    for (const name of ['b1', 'b2', 'b3']) tell(name, view('B', ['b1', 'b2', 'b3']));
    await run(300);
    for (const key of ['r1', 'huge', 'r2', 'r3']) {
      tell('c1', {
        type: 'replica-external',
        body: { type: 'issue', key, target: 'B', priority: 0, deadlineMs: 0 },
      });
    }
    await run(600);
    const clientState = state('c1') as { position: number };
    const primary = state('b1') as {
      position: number;
      counters: { outputsRefused: number; outputsSent: number };
    };
    // All four requests were processed; one reply was refused for good, three were sent.
    expect(primary.position).toBe(1 + 4); // the actor's start is position 1
    expect(primary.counters.outputsRefused).toBe(1);
    expect(primary.counters.outputsSent).toBe(3);
    // The client processed its four commands and the three replies that could travel.
    expect(clientState.position).toBe(1 + 4 + 3);
  });
});

/** `behavior` as a semi-active group B of b1 and b2 on runtime nodes, its view installed. */
async function groupOfTwo(behavior: ActorBehavior) {
  const names = ['b1', 'b2'];
  const replicaBehavior = group(behavior, { replicas: 2, style: 'semi-active' }).replicaBehavior;
  const replicas = runtimeReplicas(
    names.map((node) => ({ node, group: 'B', behavior: replicaBehavior, peers: {} })),
  );
  for (const name of names) replicas.tell(name, replicas.view('B', names));
  await replicas.run(50);
  return replicas;
}

describe('parts of a split control message (state transfers, flush replies)', () => {
  it('bad parts from a peer are counted drops, never a crash; a forged whole message is handled only if it is a control message', async () => {
    const { nodes, run, state } = await groupOfTwo(bloatedLedger);
    const part = (fields: Record<string, unknown>) => ({
      type: 'rep-part',
      group: 'B',
      incarnation: 1,
      transfer: 1,
      index: 0,
      count: 1,
      bytes: new Uint8Array([0x80]),
      ...fields,
    });
    const fromB1 = (body: unknown) => nodes.get('b1')!.tell(address('b2', REPLICA_ACTOR_NAME), body);
    fromB1(part({ count: 0 })); // no parts
    fromB1(part({ index: 3 })); // index out of range
    fromB1(part({ bytes: 'not bytes' })); // not bytes
    fromB1(part({ transfer: 2, bytes: new Uint8Array([0xc1]) })); // whole, but not msgpack
    fromB1(part({ transfer: 3 })); // whole, decodes to {} (not a control message)
    fromB1(part({ transfer: 4, bytes: new Uint8Array(new Uint8Array(7_000)) })); // larger than a part
    fromB1(part({ group: 'X' })); // another group's: ignored before anything
    await run(50);
    const b2 = state('b2') as {
      role: string;
      counters: { controlPartsDropped: number; controlMessagesJoined: number };
    };
    expect(b2.counters.controlPartsDropped).toBe(6);
    expect(b2.counters.controlMessagesJoined).toBe(0);
    expect(b2.role).toBe('backup');
  });
});

describe('control messages the replica cannot read', () => {
  it('a control message of an unknown type or with a malformed field, whole or in parts, is a counted drop, never a crash', async () => {
    const { nodes, run, state } = await groupOfTwo(ledger);
    const fromB1 = (body: unknown) => nodes.get('b1')!.tell(address('b2', REPLICA_ACTOR_NAME), body);
    const badState = { type: 'rep-state', group: 'B', epoch: 1, incarnation: 1, checkpoint: 5 };
    fromB1({ type: 'rep-newer', group: 'B' }); // a type of a newer version
    fromB1(badState); // a checkpoint that is no checkpoint
    fromB1({ type: 'rep-flush-reply', group: 'B', epoch: 1, position: 1, entries: [], inputs: [null] });
    fromB1({ type: 'rep-input-request', group: 'B', position: 'one' });
    const bytes = encodeBody(badState);
    fromB1({ type: 'rep-part', group: 'B', incarnation: 1, transfer: 9, index: 0, count: 1, bytes }); // joined
    await run(50);
    const b2 = state('b2') as {
      role: string;
      counters: {
        controlMessagesDropped: number;
        controlMessagesJoined: number;
        controlPartsDropped: number;
      };
    };
    expect(b2.counters.controlMessagesDropped).toBe(5);
    expect(b2.counters.controlMessagesJoined).toBe(1);
    expect(b2.counters.controlPartsDropped).toBe(0);
    expect(b2.role).toBe('backup');
  });
});

describe('views the replica actor cannot read', () => {
  it('a replica-view command whose view is malformed is a counted drop, never a crash', async () => {
    const { tell, view, run, state } = await groupOfTwo(ledger);
    tell('b2', { type: 'replica-view', view: { group: 'B', epoch: 5, members: 5, primary: 'b2' } });
    tell('b2', { type: 'replica-view', view: null });
    tell('b2', {
      type: 'replica-view',
      view: { group: 'B', epoch: -1, members: ['b1', 'b2'], primary: 'b2' },
    });
    await run(50);
    const b2 = () => state('b2') as { role: string; counters: { commandsDropped: number } };
    expect(b2().counters.commandsDropped).toBe(3);
    expect(b2().role).toBe('backup');
    // A well-formed view still installs: b2 becomes primary of epoch 2.
    tell('b2', view('B', ['b2', 'b1'], 2));
    await run(50);
    expect(b2().role).not.toBe('backup');
  });
});

describe('packets the replica actor cannot read', () => {
  it('a packet of another format, a malformed one, or one naming another sender is a counted drop, never a crash', async () => {
    const { nodes, run, state } = await groupOfTwo(ledger);
    const body = (fields: Record<string, unknown>) => ({
      type: 'mc-packet',
      format: 2,
      connection: 'B<->B',
      from: 'b1',
      incarnation: 1,
      group: 'B',
      data: [],
      ...fields,
    });
    const control = [{}, {}, {}, {}, [], false, 0, false];
    // An actor on b1 that sends what it is told to b2's replica, with the control data as header.
    nodes.get('b1')!.spawn(
      'forger',
      defineActor<null>({
        kind: 'forger',
        initial: () => null,
        handle(state, input, ctx) {
          if (input.type !== 'message') return state;
          const { packet, header } = input.envelope.body as { packet: unknown; header: unknown };
          ctx.send(address('b2', REPLICA_ACTOR_NAME), packet, { header: { mc: header } });
          return state;
        },
      }),
    );
    const fromB1 = (packet: unknown, header: unknown = control) =>
      nodes.get('b1')!.tell(address('b1', 'forger'), { packet, header });
    fromB1(body({ format: 1 })); // a node of the previous packet format
    fromB1(body({ data: [{ id: { origin: 'b1', incarnation: 1, sequence: 1 } }] })); // keyed, not positional
    fromB1(body({ data: [[1, 'one-way', ['rep-app/1', 'B'], null, 0]] })); // a payload form cut short
    fromB1(body({}), { acks: {} }); // control data of another form
    fromB1(body({ from: 'b3' })); // names a sender that did not send it
    await run(50);
    const b2 = state('b2') as { role: string; counters: { packetsDropped: number; processed: number } };
    expect(b2.counters.packetsDropped).toBe(5);
    expect(b2.role).toBe('backup');
  });
});
