/**
 * The account actor: its decision function, its xstate machine driven purely with `transition()`,
 * and the actor hosted on a node. Each test names the invariant it checks.
 */
import { Node, SimulatedClock, withActorContext } from '@steadfast/runtime';
import { address, decodeBody, encodeBody, stableHash } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import {
  account,
  accountMachine,
  applyOperation,
  initialAccount,
  rememberedOperationIds,
  type AccountContext,
} from './account.js';
import type { AccountReply, DepositRequest, WithdrawRequest } from './messages.js';
import { captureContext } from './test-support.js';

function deposit(operationId: string, amountCents: number): DepositRequest {
  return { type: 'deposit', operationId, amountCents };
}
function withdraw(operationId: string, amountCents: number): WithdrawRequest {
  return { type: 'withdraw', operationId, amountCents };
}

describe('applyOperation (pure decision)', () => {
  const opened = initialAccount({ owner: 'ada', balanceCents: 1_000 });

  it('a deposit adds its amount and a withdrawal takes it away, each stamped with the time read', () => {
    const first = applyOperation(opened, deposit('op-1', 250), () => 7);
    expect(first.reply).toEqual({
      ok: true,
      type: 'deposited',
      operationId: 'op-1',
      amountCents: 250,
      balanceCents: 1_250,
      atMs: 7,
    });
    const second = applyOperation(first.account, withdraw('op-2', 1_250), () => 8);
    expect(second.reply).toMatchObject({ ok: true, type: 'withdrawn', balanceCents: 0, atMs: 8 });
    expect(second.account.balanceCents).toBe(0);
    expect(second.account.historyLength).toBe(2);
  });

  it('a withdrawal beyond the balance is refused and changes no balance', () => {
    const result = applyOperation(opened, withdraw('op-1', 1_001), () => 3);
    expect(result.reply).toEqual({
      ok: false,
      type: 'insufficient-funds',
      operationId: 'op-1',
      amountCents: 1_001,
      balanceCents: 1_000,
      atMs: 3,
    });
    expect(result.account.balanceCents).toBe(1_000);
  });

  it('idempotence: the same operation id applied twice is applied once, returns the first reply and reads no clock', () => {
    const first = applyOperation(opened, deposit('op-1', 100), () => 5);
    let clockReads = 0;
    const again = applyOperation(first.account, deposit('op-1', 100), () => ++clockReads);
    expect(again.reply).toBe(first.reply);
    expect(again.account).toBe(first.account);
    expect(again.account.balanceCents).toBe(1_100);
    expect(clockReads).toBe(0);
  });

  it('a refusal is remembered too: retrying a refused withdrawal after a deposit still gets the refusal', () => {
    const refused = applyOperation(opened, withdraw('op-1', 5_000), () => 1);
    const funded = applyOperation(refused.account, deposit('op-2', 10_000), () => 2);
    const retried = applyOperation(funded.account, withdraw('op-1', 5_000), () => 3);
    expect(retried.reply).toBe(refused.reply);
    expect(retried.account.balanceCents).toBe(11_000);
  });

  it('an operation id reused for another operation is refused as a conflict and changes nothing', () => {
    const first = applyOperation(opened, deposit('op-1', 100), () => 1);
    for (const other of [deposit('op-1', 101), withdraw('op-1', 100)]) {
      const conflict = applyOperation(first.account, other, () => 2);
      expect(conflict.reply).toEqual({ ok: false, type: 'operation-conflict', operationId: 'op-1' });
      expect(conflict.account).toBe(first.account);
    }
  });

  it('the idempotence table is bounded: past appliedOperationsMax the oldest ids are forgotten, a generation at a time', () => {
    let state: AccountContext = initialAccount({ owner: 'ada', balanceCents: 0, appliedOperationsMax: 3 });
    for (const id of ['a', 'b', 'c', 'd']) state = applyOperation(state, deposit(id, 1), () => 0).account;
    // The last 3 are remembered; the sealed generation [a, b, c] is kept until a newer one replaces it.
    expect(rememberedOperationIds(state)).toEqual(['a', 'b', 'c', 'd']);
    for (const id of ['e', 'f']) state = applyOperation(state, deposit(id, 1), () => 0).account;
    expect(rememberedOperationIds(state)).toEqual(['d', 'e', 'f']);
    // The documented cost of the bound: an id older than the window is applied again.
    expect(applyOperation(state, deposit('a', 1), () => 0).account.balanceCents).toBe(7);
    expect(applyOperation(state, deposit('d', 1), () => 0).account.balanceCents).toBe(6);
  });

  it('property: whatever the bound and the ids, the last appliedOperationsMax ids are remembered, and at most two generations more', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 600 }),
        (appliedOperationsMax, ids) => {
          let state: AccountContext = initialAccount({ owner: 'ada', appliedOperationsMax });
          const fresh: string[] = [];
          for (const id of ids) {
            const before = state;
            state = applyOperation(state, deposit(id, 1), () => 0).account;
            if (state !== before) fresh.push(id);
            const remembered = rememberedOperationIds(state);
            for (const recent of fresh.slice(-appliedOperationsMax)) expect(remembered).toContain(recent);
            expect(remembered.length).toBeLessThanOrEqual(
              appliedOperationsMax + 2 * state.appliedGenerationSize,
            );
            expect(new Set(remembered).size).toBe(remembered.length);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('operation ids that name Object.prototype members are ordinary ids', () => {
    for (const id of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const result = applyOperation(opened, deposit(id, 1), () => 0);
      expect(result.reply).toMatchObject({ ok: true, type: 'deposited', balanceCents: 1_001 });
      expect(applyOperation(result.account, deposit(id, 1), () => 0).account.balanceCents).toBe(1_001);
    }
  });

  it('the state hash of an account survives a wire round trip (sealed generations are null-prototype locally, plain objects once decoded)', () => {
    // A replica that built its state and one that received it in a state transfer must digest it
    // alike, or divergence detection would remove a healthy replica.
    let account = initialAccount({ owner: 'ada', appliedOperationsMax: 100 });
    for (let index = 0; index < 150; index++) {
      account = applyOperation(account, deposit(`op-${index}`, 1), () => index).account;
    }
    expect(Object.getPrototypeOf(account.appliedGenerations[0])).toBe(null);
    const decoded = decodeBody(encodeBody(account));
    if (!decoded.ok) throw new Error(decoded.error);
    const received = decoded.value as AccountContext;
    expect(Object.getPrototypeOf(received.appliedGenerations[0])).toBe(Object.prototype);
    expect(stableHash(received)).toBe(stableHash(account));
    expect(applyOperation(received, deposit('op-149', 1), () => 0).account).toBe(received);
  });

  it('a deposit that would pass the safe-integer limit is refused, so balances stay exact', () => {
    const rich = initialAccount({ owner: 'ada', balanceCents: Number.MAX_SAFE_INTEGER - 1 });
    const result = applyOperation(rich, deposit('op-1', 2), () => 0);
    expect(result.reply).toMatchObject({ ok: false, type: 'balance-limit' });
    expect(result.account.balanceCents).toBe(Number.MAX_SAFE_INTEGER - 1);
  });

  it('opening an account with a bad input is a programmer error and throws', () => {
    expect(() => initialAccount({ owner: '', balanceCents: 0 })).toThrow(TypeError);
    expect(() => initialAccount({ owner: 'ada', balanceCents: -1 })).toThrow(RangeError);
    expect(() => initialAccount({ owner: 'ada', balanceCents: 1.5 })).toThrow(RangeError);
    expect(() => initialAccount({ owner: 'ada', appliedOperationsMax: 0 })).toThrow(RangeError);
  });
});

/** Runs one machine transition with a captured context: nothing executes but `assign`. */
function step(snapshot: ReturnType<typeof initialTransition<typeof accountMachine>>[0], event: unknown) {
  const captured = captureContext({ actor: 'account-0' });
  const [next, actions] = withActorContext(captured.ctx, () =>
    transition(accountMachine, snapshot, event as never),
  );
  const replies = actions
    .filter((action) => action.type === 'reply')
    .map((action) => (action.params as { body: AccountReply }).body);
  return { next, replies, supervised: captured.supervisor.drainRecorded() };
}

describe('accountMachine via transition() (pure)', () => {
  const [opened] = initialTransition(accountMachine, { owner: 'ada', balanceCents: 500 });

  it('a deposit updates the context and asks for exactly one reply, stamped with one supervised clock read', () => {
    const { next, replies, supervised } = step(opened, deposit('op-1', 20));
    expect(next.context.balanceCents).toBe(520);
    expect(replies).toEqual([
      { ok: true, type: 'deposited', operationId: 'op-1', amountCents: 20, balanceCents: 520, atMs: 1_000 },
    ]);
    expect(supervised).toEqual([{ kind: 'now', value: 1_000 }]);
    // transition() is pure: the snapshot it started from is untouched.
    expect(opened.context.balanceCents).toBe(500);
  });

  it('a duplicate asks for the first reply again, reads no clock and leaves the context as it was', () => {
    const first = step(opened, deposit('op-1', 20));
    const again = step(first.next, deposit('op-1', 20));
    expect(again.replies).toEqual(first.replies);
    expect(again.supervised).toEqual([]);
    expect(again.next.context).toBe(first.next.context);
  });

  it('bad amounts get an invalid-request reply instead of a crash, and change nothing', () => {
    for (const amountCents of [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', undefined]) {
      const { next, replies, supervised } = step(opened, {
        type: 'withdraw',
        operationId: 'op-1',
        amountCents,
      });
      expect(replies).toHaveLength(1);
      expect(replies[0]).toMatchObject({ ok: false, type: 'invalid-request' });
      expect(next.context).toBe(opened.context);
      expect(supervised).toEqual([]);
    }
  });

  it('a balance query replies with the balance and changes nothing', () => {
    const { next, replies } = step(opened, { type: 'balance' });
    expect(replies).toEqual([{ ok: true, type: 'balance', owner: 'ada', balanceCents: 500 }]);
    expect(next.context).toBe(opened.context);
  });
});

describe('account against a dumb model (fast-check)', () => {
  it('balance, replies and idempotence match a plain map-based model for any operation sequence', () => {
    const operation = fc.record({
      type: fc.constantFrom('deposit' as const, 'withdraw' as const),
      // A small id pool makes duplicates and conflicts frequent.
      operationId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      amountCents: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constantFrom(0, -3, 2.5)),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.array(operation, { maxLength: 40 }),
        (openingCents, operations) => {
          let [snapshot] = initialTransition(accountMachine, { owner: 'ada', balanceCents: openingCents });
          const model = {
            balanceCents: openingCents,
            seen: new Map<string, { type: string; amountCents: number; reply: string }>(),
          };
          for (const op of operations) {
            const { next, replies } = step(snapshot, op);
            snapshot = next;
            expect(replies).toHaveLength(1);
            const reply = replies[0]!;
            if (!Number.isInteger(op.amountCents) || op.amountCents <= 0) {
              expect(reply.type).toBe('invalid-request');
            } else if (model.seen.has(op.operationId)) {
              const seen = model.seen.get(op.operationId)!;
              const same = seen.type === op.type && seen.amountCents === op.amountCents;
              expect(reply.type).toBe(same ? seen.reply : 'operation-conflict');
            } else {
              const fits = op.type === 'deposit' || op.amountCents <= model.balanceCents;
              const type = op.type === 'deposit' ? 'deposited' : fits ? 'withdrawn' : 'insufficient-funds';
              if (fits) model.balanceCents += op.type === 'deposit' ? op.amountCents : -op.amountCents;
              model.seen.set(op.operationId, { type: op.type, amountCents: op.amountCents, reply: type });
              expect(reply.type).toBe(type);
            }
            expect(snapshot.context.balanceCents).toBe(model.balanceCents);
            expect(snapshot.context.balanceCents).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('account hosted on a node', () => {
  async function hosted() {
    const clock = new SimulatedClock(42_000);
    const node = new Node({ id: 'n1', incarnation: 1, clock, supervisorMode: 'record' });
    const at = node.spawn('account-0', account, { owner: 'ada', balanceCents: 100 });
    return { node, at, clock };
  }

  it('the same operation sent twice through the runtime is applied once and answered twice alike', async () => {
    const { node, at } = await hosted();
    const first = await node.request(at, deposit('op-1', 50));
    const second = await node.request(at, deposit('op-1', 50));
    expect(first.body).toEqual({
      ok: true,
      type: 'deposited',
      operationId: 'op-1',
      amountCents: 50,
      balanceCents: 150,
      atMs: 42_000,
    });
    expect(second.body).toEqual(first.body);
    expect((await node.request(at, { type: 'balance' })).body).toMatchObject({ balanceCents: 150 });
    // The supervisor saw exactly one clock read: the duplicate took no nondeterministic value.
    expect(node.supervisorOf('account-0')!.drainRecorded()).toEqual([{ kind: 'now', value: 42_000 }]);
  });

  it('malformed bodies get invalid-request replies and the account keeps running (xstate.stop included)', async () => {
    const { node, at } = await hosted();
    for (const body of [
      42,
      null,
      'withdraw',
      { type: 'xstate.stop' },
      { type: 'steal', amountCents: 5 },
      { type: 'deposit' },
    ]) {
      const reply = await node.request(at, body);
      expect(reply.body).toMatchObject({ ok: false, type: 'invalid-request' });
    }
    expect(node.hasActor('account-0')).toBe(true);
    expect((await node.request(at, { type: 'balance' })).body).toMatchObject({ ok: true, balanceCents: 100 });
  });

  it('a one-way operation is applied but answered by nobody, and does not fail the actor', async () => {
    const { node, at } = await hosted();
    node.tell(at, withdraw('op-1', 30));
    node.drain();
    expect(node.hasActor('account-0')).toBe(true);
    expect((await node.request(at, withdraw('op-1', 30))).body).toMatchObject({
      type: 'withdrawn',
      balanceCents: 70,
    });
    expect(node.counters().dropped['unknown-actor']).toBe(0);
    expect(address('n1', 'account-0')).toBe(at);
  });
});
