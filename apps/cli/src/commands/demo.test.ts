// The demo's client side of the bank's transfer protocol: an in-doubt answer is resumed, not counted
// as final (docs/example-bank.md: "retries used up; send again to resume").
import { address, type Envelope } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { IN_DOUBT_RESUMES_MAX, transferUntilSettled } from './demo.js';

function replyWith(body: unknown): Envelope {
  return {
    kind: 'async-reply',
    id: { origin: 'n1', incarnation: 1, sequence: 1 },
    source: address('n1', 'coordinator'),
    target: address('client', 'client'),
    body,
    inReplyTo: { origin: 'client', incarnation: 1, sequence: 1 },
  } as Envelope;
}

const inDoubt = { ok: false, type: 'in-doubt', transferId: 't1', phase: 'depositing' };
const transferred = { ok: true, type: 'transferred', transferId: 't1' };

/** Runs `transferUntilSettled` against a coordinator whose n-th answer (from 0) is `answer(n)`. */
async function settle(answer: (send: number) => unknown) {
  let sends = 0;
  let resumes = 0;
  const reply = await transferUntilSettled(
    async () => replyWith(answer(sends++)),
    () => resumes++,
  );
  return { body: reply.body, sends, resumes };
}

describe('demo: transferUntilSettled', () => {
  // Invariant: the demo counts a transfer answered only with a final outcome while resumes are
  // left, sending the very same request again for each in-doubt answer; a final answer at once
  // sends nothing more. Before, the first in-doubt answer counted as final, and the money read
  // after the workload was short by what those transfers still held.
  it('sends the same transfer again while it is in doubt, and returns the final outcome', async () => {
    const answers = [inDoubt, inDoubt, transferred];
    expect(await settle((send) => answers[send])).toEqual({ body: transferred, sends: 3, resumes: 2 });
  });

  it('sends once when the first answer is final', async () => {
    expect(await settle(() => transferred)).toEqual({ body: transferred, sends: 1, resumes: 0 });
  });

  it(`gives up after ${IN_DOUBT_RESUMES_MAX} resumes and returns the in-doubt answer`, async () => {
    expect(await settle(() => inDoubt)).toEqual({
      body: inDoubt,
      sends: 1 + IN_DOUBT_RESUMES_MAX,
      resumes: IN_DOUBT_RESUMES_MAX,
    });
  });
});
