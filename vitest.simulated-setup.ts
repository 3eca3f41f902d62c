// Setup of the `simulated` test project (vitest.config.ts): its files run two at a time, so one
// that started a process or opened a socket would share the cores with a simulation and pass or
// fail by timing. Starting either throws here, naming the file's place, instead of flaking later.
import childProcess from 'node:child_process';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refuse(what: string): () => never {
  return () => {
    throw new Error(
      `${what} in a test of the 'simulated' project, whose files run two at a time: ` +
        `list the file in realTests (vitest.config.ts), where files run alone`,
    );
  };
}

const guarded: ReadonlyArray<readonly [object, readonly string[], string]> = [
  [
    childProcess,
    ['spawn', 'spawnSync', 'fork', 'exec', 'execSync', 'execFile', 'execFileSync'],
    'a child process',
  ],
  [dgram, ['createSocket'], 'a UDP socket'],
  [net, ['createServer', 'createConnection', 'connect'], 'a TCP socket'],
];
for (const [module, names, what] of guarded) {
  for (const name of names) Object.defineProperty(module, name, { value: refuse(`${what} (${name})`) });
}
// Named imports (`import { spawn } from 'node:child_process'`) read the builtin's ESM bindings,
// which follow the patched object only once synced.
syncBuiltinESMExports();
