/**
 * The store's tables as Kysely types. Times are ISO-8601 text and structured values JSON text,
 * so the same schema runs on SQLite and PostgreSQL; config texts are bytes (BLOB / bytea) so a
 * kept version is byte-identical whatever its encoding.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { OperationStep, Step } from '../fleet/steps.ts';
import type { GuestType } from '../fleet/types.ts';
import type { PodChoice } from '../xlcfg/rewrite.ts';

/** How pvhctl reaches a host: `xl` on this machine, `xl` over SSH, or the simulator. */
export type Transport = 'local' | 'ssh' | 'sim';

/** `pv-pvh` hosts run PV and PVH guests; HVM guests only go to `hvm-dedicated` hosts. */
export type HostRole = 'pv-pvh' | 'hvm-dedicated';

/** What a guest may become, as its last inspection decided (src/fleet/verdict.ts). */
export type GuestHealth = 'ok' | 'switching' | 'needs-attention';
/** Whether the guest's domain was running when pvhctl last looked (scan, switch, Xen Shell power action). */
export type RunState = 'running' | 'stopped';

export type OperationKind = 'switch' | 'rollback' | 'boot' | 'shutdown' | 'reboot';

/**
 * `running` while the state machine works; `done` in the new type; `refused` by the pre-check (nothing
 * changed); `rolled-back` in the old type
 * with its config restored; `needs-attention` when neither could be verified.
 */
export type OperationStatus = 'pending' | 'running' | 'done' | 'refused' | 'rolled-back' | 'needs-attention';

export type HostsTable = {
  id: Generated<number>;
  name: string;
  transport: Transport;
  /** `user@address:port` for ssh; for sim, the simulated host's shape (JSON, read only by src/drivers/open.ts); null for local. */
  endpoint: string | null;
  /** Private key file for ssh. */
  key_path: string | null;
  /** Where the guests' xl configs live on the host. */
  config_dir: string;
  xen_version: string | null;
  /** `xl info` xen_caps, space-separated (`xen-3.0-x86_64 hvm-3.0-x86_32 ...`). */
  xen_caps: string | null;
  /** `xl info` virt_caps (`pv hvm hap ...`). */
  virt_caps: string | null;
  role: HostRole;
  /** How many guests of this host may switch at once. */
  max_parallel: number;
  /** The SSH host key accepted (`ssh-ed25519 BASE64`); null trusts the first key seen. */
  host_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** The IANA time zone its maintenance windows are read in when they name none (migration 0600_campaigns; UTC by default). */
  time_zone: ColumnType<string, string | undefined, string>;
  last_seen: string | null;
  /**
   * For a `local` host: the machine it was added on (src/drivers/machine.ts), the only one whose
   * processes may drive it; null for other transports, and for local hosts added before it was kept.
   */
  machine: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: string;
};

export type GuestsTable = {
  id: Generated<number>;
  name: string;
  host_id: number;
  /** The customer who owns the guest (customer tokens see only their own). */
  owner: string | null;
  config_path: string;
  current_type: GuestType;
  arch: string | null;
  /** The last inspection verdict, JSON (src/fleet/verdict.ts GuestVerdict). */
  verdict: string | null;
  verdict_at: string | null;
  health: GuestHealth;
  /** Why the guest needs attention, in a customer's words. */
  attention: string | null;
  /** Running or stopped as last seen (null: not known, e.g. after a rollback that failed), and when. */
  run_state: ColumnType<RunState | null, RunState | null | undefined, RunState | null>;
  run_state_at: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: string;
};

export type ConfigVersionsTable = {
  id: Generated<number>;
  guest_id: number;
  /** Why this version was kept: discovered, before-switch, written, restored. */
  reason: string;
  content: Uint8Array;
  sha256: string;
  operation_id: number | null;
  created_at: string;
};

/** Whether a guest's domain existed before an operation acted on it. */
export type PriorState = 'running' | 'stopped';

export type OperationsTable = {
  id: Generated<number>;
  guest_id: number;
  kind: OperationKind;
  from_type: GuestType;
  to_type: GuestType;
  status: OperationStatus;
  /** The last journaled step (src/fleet/steps.ts), or `created` before the first. */
  step: OperationStep;
  force: number;
  /** The guest's run state before the switch (a rollback boots it only if `running`); null: unknown. */
  prior_state: ColumnType<PriorState | null, PriorState | null | undefined, PriorState | null>;
  /** The operator's populate-on-demand choice for a switch; null: none given (a PoD guest is refused). */
  pod: ColumnType<PodChoice | null, PodChoice | null | undefined, PodChoice | null>;
  /** The process running the operation (`HOST:PID`): recovery leaves a live owner's operations alone. */
  owner: ColumnType<string | null, string | null | undefined, string | null>;
  /** Until when (ISO-8601) the owner holds the operation; it renews this while it works (src/fleet/lease.ts). */
  lease_until: ColumnType<string | null, string | null | undefined, string | null>;
  /** The config version kept before the switch: what a rollback restores. */
  kept_version_id: number | null;
  new_version_id: number | null;
  /** The outcome in words a customer understands. */
  reason: string | null;
  /** Technical detail for operators. */
  detail: string | null;
  /** A refusal's code (src/fleet/reasons.ts Refusal), worded at the edges; null: none, or a row from before codes (its `reason` is prose). */
  reason_code: ColumnType<string | null, string | null | undefined, string | null>;
  /** The refusal's parameters as JSON (without the code). */
  reason_params: ColumnType<string | null, string | null | undefined, string | null>;
  requested_by: string;
  created_at: string;
  updated_at: string;
};

export type JournalTable = {
  id: Generated<number>;
  operation_id: number;
  seq: number;
  step: Step;
  /** `begin` is written before the step acts; `done` or `failed` after. */
  phase: 'begin' | 'done' | 'failed';
  detail: string | null;
  at: string;
};

export type AuditTable = {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
};

/** API tokens, kept as sha256 of the secret. Operators see everything; customers their own guests. */
export type TokensTable = {
  id: Generated<number>;
  sha256: string;
  role: 'operator' | 'customer';
  /** The customer a customer token belongs to (guests.owner). */
  owner: string | null;
  created_at: string;
  /** After this instant (ISO 8601) the token is refused; null: it does not expire. */
  expires_at: string | null;
  /** When `pvhctl token revoke` withdrew it; the row is kept for the audit trail. */
  revoked_at: string | null;
};

export type Tables = {
  tokens: TokensTable;
  hosts: HostsTable;
  guests: GuestsTable;
  config_versions: ConfigVersionsTable;
  operations: OperationsTable;
  journal: JournalTable;
  audit: AuditTable;
};

export type Host = Selectable<HostsTable>;
export type NewHost = Insertable<HostsTable>;
export type HostUpdate = Updateable<HostsTable>;
export type Guest = Selectable<GuestsTable>;
export type NewGuest = Insertable<GuestsTable>;
export type ConfigVersion = Selectable<ConfigVersionsTable>;
export type Operation = Selectable<OperationsTable>;
export type JournalEntry = Selectable<JournalTable>;
export type AuditEntry = Selectable<AuditTable>;
export type Token = Selectable<TokensTable>;
