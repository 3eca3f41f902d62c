/**
 * The control protocol between a parent (the demo, a benchmark, an end-to-end test) and a node
 * process it forked (`steadfast node`), over Node's IPC channel. Data traffic never uses it:
 * actors talk over UDP only.
 */

export interface ActorSpec {
  readonly name: string;
  /** A kind from the app's actor registry (the example bank's by default). */
  readonly kind: string;
  readonly input?: unknown;
  /**
   * Merge the host's facts into the (object) input: `incarnation` (this start's) and `joining`
   * (true when this node restarted). Replica actors need both, and only the host knows them.
   */
  readonly hostInput?: boolean;
}

export interface NodeProcessConfig {
  readonly id: string;
  readonly incarnation: number;
  readonly host: string;
  /** 0 picks a free port; the child reports the one it got. */
  readonly port: number;
  /** The cluster key, hex (at least 16 bytes). */
  readonly keyHex: string;
  /** Which registry the actor kinds come from (host/apps.ts): `bank` by default. */
  readonly app?: string;
  readonly actors: readonly ActorSpec[];
  /** Write this node's trace here (closed on a clean stop; left truncated by a crash). */
  readonly traceFile?: string;
  /** Keep the actors' persisted state in an LMDB store in this directory (kept across restarts). */
  readonly dataDir?: string;
  /** Hold every outgoing datagram for a random delay in this range (`DelayingTransport`). */
  readonly delay?: DatagramDelay;
}

/** A range of delays, ms, each outgoing datagram's drawn uniformly in it. */
export interface DatagramDelay {
  readonly minMs: number;
  readonly maxMs: number;
}

export type ParentMessage =
  | { readonly type: 'configure'; readonly config: NodeProcessConfig }
  | { readonly type: 'peers'; readonly peers: Readonly<Record<string, string>> }
  | { readonly type: 'inspect'; readonly requestId: number; readonly actor: string }
  | { readonly type: 'counters'; readonly requestId: number }
  | { readonly type: 'stop' };

export type ChildMessage =
  | { readonly type: 'bound'; readonly endpoint: string }
  | { readonly type: 'ready' }
  | { readonly type: 'stopped'; readonly counters: unknown }
  | { readonly type: 'inspected'; readonly requestId: number; readonly state: unknown }
  | {
      readonly type: 'node-counters';
      readonly requestId: number;
      readonly counters: unknown;
      /** CPU time this process has used so far, user and system, in microseconds. */
      readonly cpuUs: number;
    }
  | { readonly type: 'error'; readonly message: string };
