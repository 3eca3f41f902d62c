/**
 * The transfer coordinator, driven by hand through a captured context: the test plays the
 * accounts and the clock, so it decides which replies arrive, in which order, and which are lost.
 */
import { address, type Address, type Envelope, type MessageId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { transferCoordinator, type CoordinatorInput, type CoordinatorState } from './coordinator.js';
import type { AccountReply, TransferRequest } from './messages.js';
import { captureContext, replyEnvelope, repliesTo, requestEnvelope } from './test-support.js';

const ALICE: Address = address('n1', 'account-0');
const BOB: Address = address('n2', 'account-1');
const CAROL: Address = address('n3', 'account-2');
const SELF: Address = address('n1', 'transfer-coordinator');

function harness(input: CoordinatorInput = {}) {
  const captured = captureContext({ node: 'n1', actor: 'transfer-coordinator' });
  const instance = transferCoordinator.start(captured.ctx, input);
  let accountSequence = 0;
  const deliver = (envelope: Envelope) => {
    captured.setCurrent(envelope);
    instance.handle({ type: 'message', envelope });
    captured.setCurrent(undefined);
  };
  const h = {
    ...captured,
    state: () => instance.state() as CoordinatorState,
    /** Sends a client request; returns its envelope. */
    request(body: unknown, id: MessageId = captured.nextClientId()): Envelope {
      const envelope = requestEnvelope(id, SELF, body);
      deliver(envelope);
      return envelope;
    },
    transfer(body: Omit<TransferRequest, 'type'>, id?: MessageId): Envelope {
      return h.request({ type: 'transfer', ...body }, id);
    },
    /** Requests the coordinator sent to an account, in order. */
    requestsTo(target: Address): Envelope[] {
      return captured.sent.filter(
        (envelope) => envelope.kind === 'async-request' && envelope.target === target,
      );
    },
    /** The account answers `request` with `body`. */
    answer(request: Envelope, body: AccountReply, source: Address = request.target): void {
      const id: MessageId = {
        origin: 'acct' as MessageId['origin'],
        incarnation: 1,
        sequence: ++accountSequence,
      };
      deliver({ ...(replyEnvelope(id, request, body) as Envelope & { kind: 'async-reply' }), source });
    },
    fire(name: string): void {
      const timer = captured.timers.get(name);
      if (timer === undefined) throw new Error(`no timer ${name}`);
      captured.timers.delete(name);
      instance.handle({ type: 'timer', name, payload: timer.payload });
    },
  };
  return h;
}

function withdrawn(request: Envelope, balanceCents = 0): AccountReply {
  const body = request.body as { operationId: string; amountCents: number };
  return {
    ok: true,
    type: 'withdrawn',
    operationId: body.operationId,
    amountCents: body.amountCents,
    balanceCents,
    atMs: 1,
  };
}
function deposited(request: Envelope, balanceCents = 0): AccountReply {
  const body = request.body as { operationId: string; amountCents: number };
  return {
    ok: true,
    type: 'deposited',
    operationId: body.operationId,
    amountCents: body.amountCents,
    balanceCents,
    atMs: 1,
  };
}

describe('transfer coordinator', () => {
  it('happy path: withdraw from `from`, then deposit to `to`, then one `transferred` reply with the drawn id', () => {
    const h = harness();
    const client = h.transfer({ from: ALICE, to: BOB, amountCents: 300 });
    const [withdraw] = h.requestsTo(ALICE);
    expect(h.requestsTo(BOB)).toEqual([]);
    const transferId = (withdraw!.body as { operationId: string }).operationId.replace(/:withdraw$/, '');
    // The id came from the supervisor (ctx.id()), so a replay draws the same one.
    expect(h.supervisor.drainRecorded()).toEqual([{ kind: 'id', value: transferId }]);
    expect(withdraw!.body).toEqual({
      type: 'withdraw',
      operationId: `${transferId}:withdraw`,
      amountCents: 300,
    });
    h.answer(withdraw!, withdrawn(withdraw!));
    const [deposit] = h.requestsTo(BOB);
    expect(deposit!.body).toEqual({
      type: 'deposit',
      operationId: `${transferId}:deposit`,
      amountCents: 300,
    });
    expect(repliesTo(h.sent, client.id)).toEqual([]);
    h.answer(deposit!, deposited(deposit!));
    expect(repliesTo(h.sent, client.id)).toEqual([
      { ok: true, type: 'transferred', transferId, amountCents: 300 },
    ]);
    expect(h.state().active).toEqual({});
    expect(h.timers.size).toBe(0);
  });

  it('insufficient funds: the client is told and no deposit is ever sent', () => {
    const h = harness();
    const client = h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 300 });
    const [withdraw] = h.requestsTo(ALICE);
    h.answer(withdraw!, {
      ok: false,
      type: 'insufficient-funds',
      operationId: 't1:withdraw',
      amountCents: 300,
      balanceCents: 12,
      atMs: 1,
    });
    expect(repliesTo(h.sent, client.id)).toEqual([
      { ok: false, type: 'insufficient-funds', transferId: 't1', balanceCents: 12 },
    ]);
    expect(h.requestsTo(BOB)).toEqual([]);
    expect(h.timers.size).toBe(0);
  });

  it('concurrent transfers: replies arriving in reverse order are matched by inReplyTo to their own transfer', () => {
    const h = harness();
    const first = h.transfer({ transferId: 'a', from: ALICE, to: BOB, amountCents: 1 });
    const second = h.transfer({ transferId: 'b', from: ALICE, to: CAROL, amountCents: 2 });
    const [withdrawA, withdrawB] = h.requestsTo(ALICE);
    h.answer(withdrawB!, withdrawn(withdrawB!));
    h.answer(withdrawA!, withdrawn(withdrawA!));
    expect(h.requestsTo(CAROL).map((envelope) => envelope.body)).toEqual([
      { type: 'deposit', operationId: 'b:deposit', amountCents: 2 },
    ]);
    expect(h.requestsTo(BOB).map((envelope) => envelope.body)).toEqual([
      { type: 'deposit', operationId: 'a:deposit', amountCents: 1 },
    ]);
    h.answer(h.requestsTo(BOB)[0]!, deposited(h.requestsTo(BOB)[0]!));
    expect(repliesTo(h.sent, first.id)).toEqual([
      { ok: true, type: 'transferred', transferId: 'a', amountCents: 1 },
    ]);
    expect(repliesTo(h.sent, second.id)).toEqual([]);
    expect(Object.keys(h.state().active)).toEqual(['b']);
  });

  it('a retransmitted client request (same envelope, no transferId) starts no second transfer and gets the same outcome', () => {
    const h = harness();
    const client = h.transfer({ from: ALICE, to: BOB, amountCents: 5 });
    h.transfer({ from: ALICE, to: BOB, amountCents: 5 }, client.id);
    expect(h.requestsTo(ALICE)).toHaveLength(1);
    const [withdraw] = h.requestsTo(ALICE);
    h.answer(withdraw!, withdrawn(withdraw!));
    h.answer(h.requestsTo(BOB)[0]!, deposited(h.requestsTo(BOB)[0]!));
    const outcome = repliesTo(h.sent, client.id);
    expect(outcome).toHaveLength(1);
    const sentBefore = h.sent.length;
    h.transfer({ from: ALICE, to: BOB, amountCents: 5 }, client.id);
    expect(h.sent.slice(sentBefore).map((envelope) => envelope.body)).toEqual(outcome);
    expect(h.requestsTo(ALICE)).toHaveLength(1);
    expect(h.state().counters).toMatchObject({ started: 1, transferred: 1, duplicates: 2 });
  });

  it('a lost reply is retried on the timer with the same operation id; a late reply to either attempt completes the step once', () => {
    const h = harness({ retryAfterMs: 50, attemptsMax: 5 });
    h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 7 });
    expect(h.timers.get('retry:t1')?.delayMs).toBe(50);
    h.fire('retry:t1');
    const [first, second] = h.requestsTo(ALICE);
    expect(second!.body).toEqual(first!.body);
    expect(second!.id).not.toEqual(first!.id);
    h.answer(first!, withdrawn(first!));
    h.answer(second!, withdrawn(second!));
    expect(h.requestsTo(BOB)).toHaveLength(1);
    expect(h.state().counters).toMatchObject({ resends: 1, lateReplies: 1 });
  });

  it('retries are bounded: after attemptsMax sends the client hears in-doubt; the same transfer sent again resumes it', () => {
    const h = harness({ retryAfterMs: 10, attemptsMax: 3 });
    const client = h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 7 });
    h.fire('retry:t1');
    h.fire('retry:t1');
    h.fire('retry:t1');
    expect(h.requestsTo(ALICE)).toHaveLength(3);
    expect(h.timers.size).toBe(0);
    expect(repliesTo(h.sent, client.id)).toEqual([
      { ok: false, type: 'in-doubt', transferId: 't1', phase: 'withdrawing' },
    ]);
    expect(h.state().active['t1']?.inDoubt).toBe(true);
    const again = h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 7 });
    const sends = h.requestsTo(ALICE);
    expect(sends).toHaveLength(4);
    h.answer(sends[3]!, withdrawn(sends[3]!));
    h.answer(h.requestsTo(BOB)[0]!, deposited(h.requestsTo(BOB)[0]!));
    expect(repliesTo(h.sent, again.id)).toEqual([
      { ok: true, type: 'transferred', transferId: 't1', amountCents: 7 },
    ]);
  });

  it('a deposit refused by `to` is refunded into `from` under its own operation id, and the client hears `refunded`', () => {
    const h = harness();
    const client = h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 9 });
    h.answer(h.requestsTo(ALICE)[0]!, withdrawn(h.requestsTo(ALICE)[0]!));
    h.answer(h.requestsTo(BOB)[0]!, { ok: false, type: 'operation-conflict', operationId: 't1:deposit' });
    const refund = h.requestsTo(ALICE)[1]!;
    expect(refund.body).toEqual({ type: 'deposit', operationId: 't1:refund', amountCents: 9 });
    h.answer(refund, deposited(refund));
    expect(repliesTo(h.sent, client.id)).toEqual([
      { ok: false, type: 'refunded', transferId: 't1', reason: 'operation-conflict' },
    ]);
  });

  it('a reply from an account other than the one asked is ignored', () => {
    const h = harness();
    h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 9 });
    const withdraw = h.requestsTo(ALICE)[0]!;
    h.answer(withdraw, withdrawn(withdraw), CAROL);
    expect(h.requestsTo(BOB)).toEqual([]);
    expect(h.state().active['t1']?.phase).toBe('withdrawing');
  });

  it('the same transfer id with other terms is a conflict, in flight and finished', () => {
    const h = harness();
    h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 9 });
    const inFlight = h.transfer({ transferId: 't1', from: ALICE, to: BOB, amountCents: 10 });
    expect(repliesTo(h.sent, inFlight.id)).toEqual([
      { ok: false, type: 'transfer-conflict', transferId: 't1' },
    ]);
    h.answer(h.requestsTo(ALICE)[0]!, {
      ok: false,
      type: 'insufficient-funds',
      operationId: 't1:withdraw',
      amountCents: 9,
      balanceCents: 0,
      atMs: 1,
    });
    const finished = h.transfer({ transferId: 't1', from: ALICE, to: CAROL, amountCents: 9 });
    expect(repliesTo(h.sent, finished.id)).toEqual([
      { ok: false, type: 'transfer-conflict', transferId: 't1' },
    ]);
    expect(h.requestsTo(ALICE)).toHaveLength(1);
  });

  it('transfers in flight are bounded: past transfersInFlightMax a new transfer is refused as busy', () => {
    const h = harness({ transfersInFlightMax: 2 });
    h.transfer({ transferId: 'a', from: ALICE, to: BOB, amountCents: 1 });
    h.transfer({ transferId: 'b', from: ALICE, to: BOB, amountCents: 1 });
    const third = h.transfer({ transferId: 'c', from: ALICE, to: BOB, amountCents: 1 });
    expect(repliesTo(h.sent, third.id)).toEqual([{ ok: false, type: 'busy', transfersInFlightMax: 2 }]);
    expect(h.requestsTo(ALICE)).toHaveLength(2);
    // A duplicate of a transfer already in flight is not a new one, so it is not refused.
    const duplicate = h.transfer({ transferId: 'a', from: ALICE, to: BOB, amountCents: 1 });
    expect(repliesTo(h.sent, duplicate.id)).toEqual([]);
  });

  it('remembered outcomes are bounded: the oldest are forgotten past outcomesMax, with their client keys', () => {
    const h = harness({ outcomesMax: 2 });
    for (let index = 0; index < 3; index++) {
      h.transfer({ from: ALICE, to: BOB, amountCents: 1 });
      const withdraw = h.requestsTo(ALICE)[index]!;
      h.answer(withdraw, {
        ok: false,
        type: 'insufficient-funds',
        operationId: 'x',
        amountCents: 1,
        balanceCents: 0,
        atMs: 1,
      });
    }
    expect(h.state().finishedOrder).toHaveLength(2);
    expect(Object.keys(h.state().finished)).toHaveLength(2);
    expect(Object.keys(h.state().clientRequests)).toHaveLength(2);
  });

  it('bad requests get invalid-request replies and leave no trace in the transfer table', () => {
    const h = harness();
    const bodies = [
      42,
      'transfer',
      { type: 'refund' },
      { type: 'transfer', from: ALICE, to: ALICE, amountCents: 1 },
      { type: 'transfer', from: ALICE, to: BOB, amountCents: -1 },
      { type: 'transfer', from: ALICE, to: BOB, amountCents: 0.5 },
      { type: 'transfer', from: 'nowhere', to: BOB, amountCents: 1 },
      { type: 'transfer', from: ALICE, to: BOB, amountCents: 1, transferId: 'x'.repeat(500) },
    ];
    for (const body of bodies) {
      const request = h.request(body);
      expect(repliesTo(h.sent, request.id)).toEqual([
        expect.objectContaining({ ok: false, type: 'invalid-request' }),
      ]);
    }
    expect(h.state().active).toEqual({});
    expect(h.state().counters.invalid).toBe(bodies.length);
  });
});
