/**
 * A child process for the hop trace's test (`hop-trace.process.test.ts`). Run with
 * `STEADFAST_HOP_TRACE` set, it has a node without a transport deliver three one-way messages to an
 * actor, each in a turn of its own; the third makes the actor set a timer of the delay its first
 * argument gives. It also sets a zero-delay timer on its `RealClock` directly. Once the actor
 * handled its timer it exits with code 0, and the hop trace writes its file at exit. Anything
 * unexpected exits with code 1.
 *
 * Run: STEADFAST_HOP_TRACE=/tmp/hops/run node --import tsx packages/runtime/src/testing/hop-trace-child.ts 7
 */
import { defineActor } from '../actor.js';
import { RealClock } from '../clock.js';
import { Node } from '../node.js';

/** The actor timer's delay (ms), the first argument: not 0, so the test tells the two timers apart. */
const actorTimerDelayMs = Number(process.argv[2]);
if (!Number.isSafeInteger(actorTimerDelayMs) || actorTimerDelayMs <= 0) {
  process.stderr.write(
    `hop trace child: the first argument must be a positive delay in ms, got ${process.argv[2]}\n`,
  );
  process.exit(1);
}
const DEADLINE_MS = 10_000;

let timerHandled: () => void = () => undefined;
const actorTimerHandled = new Promise<void>((resolve) => (timerHandled = resolve));

const ticker = defineActor<{ messages: number }>({
  kind: 'test.hop-ticker',
  initial: () => ({ messages: 0 }),
  handle(state, input, ctx) {
    if (input.type === 'timer') {
      timerHandled();
      return state;
    }
    const messages = state.messages + 1;
    if (messages === 3) ctx.setTimer('tick', actorTimerDelayMs);
    return { messages };
  },
});

const deadline = setTimeout(() => {
  process.stderr.write(`hop trace child: the actor's timer was not handled within ${DEADLINE_MS} ms\n`);
  process.exit(1);
}, DEADLINE_MS);

const clock = new RealClock();
const node = new Node({ id: 'hop-child', incarnation: 1, clock });
const target = node.spawn('ticker', ticker);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
for (let message = 0; message < 3; message++) {
  node.tell(target, { type: 'tick', message });
  await turn();
}
await new Promise<void>((resolve) => clock.setTimer(0, resolve));
await actorTimerHandled;
clearTimeout(deadline);
await node.close();
process.exit(0);
