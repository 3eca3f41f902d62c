/**
 * Actors that make outputs no frame can carry, for the oversize tests (`oversize.test.ts` on runtime
 * nodes, `refused-output.test.ts` in the pure harness): the key 'huge' makes a ~40 KB message, far
 * past the connection's default `messageBytesMax` of 12 KiB; every other key a small one.
 */
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { groupAddress } from './replica.js';

/** Far more than a frame: the connection's default `messageBytesMax` is 12 KiB. */
export const PADDING_CHARS = 40_000;

function padding(key: string): string {
  return key === 'huge' ? 'x'.repeat(PADDING_CHARS) : '';
}

/** Answers `add` like the ledger, but with a ~40 KB reply for the key 'huge'. */
export const bloatedLedger: ActorBehavior = defineActor<{ total: number }>({
  kind: 'test-bloated-ledger',
  initial: () => ({ total: 0 }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const body = input.envelope.body as { type?: string; key?: string };
    if (body.type !== 'add' || typeof body.key !== 'string') return state;
    const total = state.total + 1;
    ctx.reply({ type: 'added', key: body.key, total, padding: padding(body.key) });
    return { total };
  },
});

/**
 * A front that calls group B's ledger synchronously for every request; the call for 'huge' is ~40
 * KB. With `padLate`, it pads that call only after making it: the output is small when `emit`
 * sizes it and too large when the primary sends it, which only the send's own check sees (an actor
 * must not change what it sent; this one does, to reach that safety net).
 */
export function paddedFront(kind: string, padLate = false): ActorBehavior {
  return defineActor<{ called: number; answered: number }>({
    kind,
    initial: () => ({ called: 0, answered: 0 }),
    handle(state, input, ctx) {
      if (input.type !== 'message') return state;
      const envelope = input.envelope;
      const body = envelope.body as { type?: string; key?: string };
      if (envelope.kind === 'async-request' && body.type === 'add' && typeof body.key === 'string') {
        const call = { type: 'add', key: body.key, amount: 1, padding: padLate ? '' : padding(body.key) };
        ctx.request(groupAddress('B'), call, { sync: true });
        if (padLate) call.padding = padding(body.key);
        return { ...state, called: state.called + 1 };
      }
      if (envelope.kind === 'sync-reply') return { ...state, answered: state.answered + 1 };
      return state;
    },
  });
}
