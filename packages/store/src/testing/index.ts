/**
 * Test helpers for store implementations and their users: the compliance suite every store must
 * pass, the model it is compared with, and the record shape the crash test writes.
 */
export { storeComplianceSuite, type OpenStore, type OpenedStore } from './store-compliance.js';
export {
  expectStoreError,
  initialModel,
  storeCommands,
  type RealStore,
  type StoreModel,
} from './store-model.js';
