/**
 * The two stores a suite runs on: the embedded SQLite default and PostgreSQL (a fresh database in
 * this process's throwaway cluster, test/support/postgres.ts). A suite loops over STORES and
 * names its tests after them, so each runs once per store.
 */
import { postgres } from './postgres.ts';

export type StoreKind = 'sqlite' | 'postgres';

/** A store to open: `location()` gives a fresh `openStore` location (':memory:' or a URL). */
export type TestStore = { kind: StoreKind; location: () => Promise<string> };

/** Both stores, SQLite first. `PVHCTL_TEST_STORES=sqlite` narrows a local run to one of them. */
export const STORES: TestStore[] = [
  { kind: 'sqlite' as const, location: async () => ':memory:' },
  { kind: 'postgres' as const, location: async () => (await postgres()).newDatabase() },
].filter((s) => (process.env.PVHCTL_TEST_STORES ?? 'sqlite,postgres').split(',').includes(s.kind));
