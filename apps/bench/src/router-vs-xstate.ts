/**
 * In-process delivery: the runtime's router (mailbox, context, step bookkeeping) against a bare
 * xstate actor receiving the same events with `actor.send`. Same machine, same event count.
 */
import { fromMachine, Node, RealClock } from '@steadfast/runtime';
import { address } from '@steadfast/wire';
import { assign, createActor, setup } from 'xstate';
import { round } from './stats.js';

const counterMachine = setup({
  types: { context: {} as { count: number }, events: {} as { type: 'inc' } },
}).createMachine({
  context: { count: 0 },
  on: { inc: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
});

function bareXstate(events: number): number {
  const actor = createActor(counterMachine).start();
  const started = performance.now();
  for (let index = 0; index < events; index++) actor.send({ type: 'inc' });
  const elapsedMs = performance.now() - started;
  if (actor.getSnapshot().context.count !== events) throw new Error('bare xstate lost events');
  actor.stop();
  return (events / elapsedMs) * 1000;
}

function throughRouter(events: number, batch: number): number {
  const clock = new RealClock();
  const node = new Node({
    id: 'bench',
    incarnation: 1,
    clock,
    mailboxCapacity: batch,
    scheduleDrain: () => {},
  });
  node.spawn('counter', fromMachine('bench.counter', counterMachine));
  const target = address('bench', 'counter');
  const started = performance.now();
  for (let sent = 0; sent < events; sent += batch) {
    for (let index = 0; index < batch; index++) node.tell(target, { type: 'inc' });
    node.drain();
  }
  const elapsedMs = performance.now() - started;
  const state = node.actorState('counter') as { context: { count: number } };
  if (state.context.count !== events)
    throw new Error(`router lost events: ${state.context.count} of ${events}`);
  return (events / elapsedMs) * 1000;
}

export function benchRouter(events = 200_000) {
  // Warm both paths so the JIT has compiled them before measuring.
  bareXstate(20_000);
  throughRouter(20_000, 1000);
  const bareOpsPerSec = bareXstate(events);
  const routerOpsPerSec = throughRouter(events, 1000);
  return {
    events,
    bareXstateOpsPerSec: Math.round(bareOpsPerSec),
    routerOpsPerSec: Math.round(routerOpsPerSec),
    ratio: round(routerOpsPerSec / bareOpsPerSec, 3),
    target: '>= 0.5',
  };
}
