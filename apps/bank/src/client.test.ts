// The client's settings check: a client spawned with a configuration it cannot run gets a clear
// error before it sends anything, naming the setting (rather than picking an undefined address).
import { describe, expect, it } from 'vitest';
import { address } from '@steadfast/wire';
import { bankClientSettings, type BankClientInput } from './client.js';

const good: BankClientInput = {
  accounts: [address('n1', 'account-0'), address('n2', 'account-1')],
  coordinators: [address('n1', 'transfer-coordinator')],
  transfers: 10,
};

describe('bankClientSettings', () => {
  it('fills in the defaults of a good input', () => {
    expect(bankClientSettings(good)).toEqual({
      ...good,
      intervalMs: 20,
      retryAfterMs: 300,
      inFlightMax: 8,
      transferCentsMax: 500,
    });
    expect(bankClientSettings({ ...good, transfers: 0 }).transfers).toBe(0);
  });

  it.each([
    [{ accounts: [good.accounts[0]!] }, /accounts must list at least two accounts, got 1/],
    [{ accounts: undefined }, /accounts must list at least two accounts, got undefined/],
    [{ coordinators: [] }, /coordinators must list at least one coordinator, got 0/],
    [{ transfers: -1 }, /transfers must be a whole number of zero or more, got -1/],
    [{ transfers: 1.5 }, /transfers must be a whole number/],
    [{ intervalMs: 0 }, /intervalMs must be a positive integer, got 0/],
    [{ retryAfterMs: Number.NaN }, /retryAfterMs must be a positive integer, got NaN/],
    [{ inFlightMax: -3 }, /inFlightMax must be a positive integer/],
    [{ transferCentsMax: 2.5 }, /transferCentsMax must be a positive integer/],
  ])('refuses %o', (change, message) => {
    expect(() => bankClientSettings({ ...good, ...change } as BankClientInput)).toThrow(message);
  });
});
