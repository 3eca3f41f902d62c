/**
 * The actor registries a node process can spawn from, by app name. A cluster's configuration
 * names the app; each actor spec names a kind in its registry.
 */
import { bankRegistry } from '@steadfast/example-bank';
import { actorRegistry, type ActorRegistry } from '@steadfast/runtime';
import { ledgerMember } from '../group-app.js';
import { replicationAppRegistry } from '../replication-app.js';

export const appRegistries: Readonly<Record<string, ActorRegistry>> = {
  bank: bankRegistry,
  group: actorRegistry([ledgerMember]),
  replication: replicationAppRegistry,
};
