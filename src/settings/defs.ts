/**
 * Every setting pvhctl reads from /etc/pvhctl/pvhctl.conf, in one table: its TOML section and
 * key, its type, its default, the environment variable that overrides it, and its documentation.
 * The shipped example file, pvhctl.conf(5) and `pvhctl settings show` are all made from this
 * table, so they cannot disagree with what the parser accepts.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What a setting's value may be; checked once, where the file, the environment or a flag is read. */
export type SettingType =
  | { kind: 'path' }
  | { kind: 'address' }
  | { kind: 'port' }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'seconds'; min: number; max: number }
  | { kind: 'url'; schemes: readonly string[] }
  | { kind: 'email' }
  | { kind: 'hostname' }
  | { kind: 'choice'; values: readonly string[] };

/** A setting's value after parsing: text, a number, or unset (no default and not given). */
export type SettingValue = string | number | null;

/** One row of the table. */
export type SettingDef = {
  section: string;
  name: string;
  type: SettingType;
  /** The default, or a function of the running user (the data directory). */
  default: SettingValue | (() => SettingValue);
  /** What the default is, in words, where it depends on the user. */
  defaultText?: string;
  env: string;
  /** A value to show in the example file for a setting with no default. */
  example?: SettingValue;
  /** Documentation, one sentence or a few; wrapped by whoever renders it. */
  doc: string;
};

/** A setting's name as written on `pvhctl settings show` lines and in errors: `api.port`. */
export type SettingKey = `${string}.${string}`;

/** The key of a definition. */
export function keyOf(def: SettingDef): SettingKey {
  return `${def.section}.${def.name}`;
}

/** What each section is for (in the order they appear in the file). */
export const SECTIONS: Record<string, string> = {
  store: 'Where pvhctl keeps its state.',
  api: "The REST API and web UI ('pvhctl serve', pvhctl.service).",
  shell: "The customers' Xen Shell over SSH ('pvhctl shell', pvhctl-shell.service).",
  limits: 'How much pvhctl does at once.',
  verify: 'How long a switch waits for the guest before it rolls back.',
  rehearse: "Test boots ('pvhctl rehearse', the API, the web UI): the copies of a guest's disks and the memory left free; `pvhctl rehearse` flags override these.",
  smtp: 'Mail to customers about their switches.',
  campaign: "Defaults for new campaigns ('pvhctl campaign create', the API): their flags and fields override these, and a campaign keeps the values it was created with.",
};

const MINUTE = 60;
const DAY = 24 * 60 * MINUTE;

/** The table. Order is the order of the example file and of `pvhctl settings show`. */
export const SETTINGS: readonly SettingDef[] = [
  {
    section: 'store', name: 'data_dir', type: { kind: 'path' }, env: 'PVHCTL_DATA_DIR',
    default: () => (process.getuid?.() === 0 ? '/var/lib/pvhctl' : join(homedir(), '.local', 'share', 'pvhctl')),
    defaultText: '/var/lib/pvhctl for root, ~/.local/share/pvhctl for other users',
    doc: "The data directory: the SQLite store (pvhctl.sqlite), the operator token, the Xen Shell's host key, simulated hosts. The package's services use /var/lib/pvhctl.",
  },
  {
    section: 'store', name: 'url', type: { kind: 'url', schemes: ['postgres', 'postgresql'] }, env: 'PVHCTL_STORE', default: null, example: "postgres://pvhctl@db.example.com/pvhctl",
    doc: 'A PostgreSQL URL (postgres://USER@HOST/DB) to keep the store in PostgreSQL instead of SQLite, for several API servers and workers on one fleet.',
  },
  {
    section: 'api', name: 'listen', type: { kind: 'address' }, env: 'PVHCTL_LISTEN', default: '127.0.0.1',
    doc: 'The address the API listens on. Use a public address only with tls_cert and tls_key set: tokens travel in every request.',
  },
  {
    section: 'api', name: 'port', type: { kind: 'port' }, env: 'PVHCTL_PORT', default: 8080,
    doc: 'The TCP port of the API and web UI.',
  },
  {
    section: 'api', name: 'tls_cert', type: { kind: 'path' }, env: 'PVHCTL_TLS_CERT', default: null, example: "/etc/pvhctl/tls/cert.pem",
    doc: 'A PEM certificate (chain) file. With tls_key, the API serves HTTPS only; without both, plain HTTP.',
  },
  {
    section: 'api', name: 'tls_key', type: { kind: 'path' }, env: 'PVHCTL_TLS_KEY', default: null, example: "/etc/pvhctl/tls/key.pem",
    doc: "The certificate's PEM private key file; readable by the pvhctl user only.",
  },
  {
    section: 'shell', name: 'listen', type: { kind: 'address' }, env: 'PVHCTL_SHELL_LISTEN', default: '127.0.0.1',
    doc: "The address the customers' Xen Shell (SSH) listens on.",
  },
  {
    section: 'shell', name: 'port', type: { kind: 'port' }, env: 'PVHCTL_SHELL_PORT', default: 2222,
    doc: 'The TCP port of the Xen Shell.',
  },
  {
    section: 'limits', name: 'max_parallel', type: { kind: 'integer', min: 1, max: 256 }, env: 'PVHCTL_MAX_PARALLEL', default: 2,
    doc: "How many guests of one host switch at once, for hosts added without --max-parallel ('pvhctl host add').",
  },
  {
    section: 'verify', name: 'boot_timeout', type: { kind: 'seconds', min: 1, max: 3600 }, env: 'PVHCTL_BOOT_TIMEOUT', default: 120,
    doc: 'Seconds a switched guest has to come up (running in its new type, frontends connected) before the switch rolls it back.',
  },
  {
    section: 'verify', name: 'shutdown_timeout', type: { kind: 'seconds', min: 1, max: 3600 }, env: 'PVHCTL_SHUTDOWN_TIMEOUT', default: 60,
    doc: 'Seconds a guest has to shut down cleanly before a switch gives up on it (the guest keeps running).',
  },
  {
    section: 'rehearse', name: 'cow_percent', type: { kind: 'integer', min: 1, max: 100 }, env: 'PVHCTL_REHEARSE_COW_PERCENT', default: 10,
    doc: "The CoW area of a test boot's LVM snapshot, in percent of the disk (at least 256 MiB, at most rehearse.cow_max, never more than the disk; --cow-percent).",
  },
  {
    section: 'rehearse', name: 'cow_max', type: { kind: 'integer', min: 1, max: 65536 }, env: 'PVHCTL_REHEARSE_COW_MAX', default: 16,
    doc: "GiB a test boot's CoW area may take at most per disk, out of its volume group's free extents (--cow-max).",
  },
  {
    section: 'rehearse', name: 'reserve', type: { kind: 'integer', min: 0, max: 1048576 }, env: 'PVHCTL_REHEARSE_RESERVE', default: 1024,
    doc: "MiB of the host's free memory (xl info free_memory) a test boot must leave free; one that would not is refused, with why (--reserve).",
  },
  {
    section: 'smtp', name: 'host', type: { kind: 'hostname' }, env: 'PVHCTL_SMTP_HOST', default: null, example: "smtp.example.com",
    doc: 'The mail relay campaign mail to customers goes through (docs/mail.md). Unset: no mail is sent.',
  },
  {
    section: 'smtp', name: 'port', type: { kind: 'port' }, env: 'PVHCTL_SMTP_PORT', default: 587,
    doc: "The relay's port (587: submission with STARTTLS; 465: TLS from the start).",
  },
  {
    section: 'smtp', name: 'security', type: { kind: 'choice', values: ['starttls', 'tls', 'none'] }, env: 'PVHCTL_SMTP_SECURITY', default: 'starttls',
    doc: "starttls: the relay must offer STARTTLS and its certificate must verify; tls: TLS from the start (port 465); none: plain SMTP, only for a relay on this machine.",
  },
  {
    section: 'smtp', name: 'ca_file', type: { kind: 'path' }, env: 'PVHCTL_SMTP_CA_FILE', default: null, example: "/etc/pvhctl/smtp-ca.pem",
    doc: "PEM certificates of the CAs the relay's certificate must chain to, instead of the system's (a relay with a private CA). Unset: the system's CAs.",
  },
  {
    section: 'smtp', name: 'from', type: { kind: 'email' }, env: 'PVHCTL_SMTP_FROM', default: null, example: "pvhctl@example.com",
    doc: 'The sender address of mail to customers.',
  },
  {
    section: 'smtp', name: 'username', type: { kind: 'hostname' }, env: 'PVHCTL_SMTP_USERNAME', default: null, example: "pvhctl",
    doc: 'The user name to log in to the relay with, if it needs one.',
  },
  {
    section: 'smtp', name: 'password_file', type: { kind: 'path' }, env: 'PVHCTL_SMTP_PASSWORD_FILE', default: null, example: "/etc/pvhctl/smtp-password",
    doc: 'A file holding the relay password (a file, so that the password is not in this file or in the environment).',
  },
  {
    section: 'smtp', name: 'link_url', type: { kind: 'url', schemes: ['https', 'http'] }, env: 'PVHCTL_SMTP_LINK_URL', default: null, example: "https://pvh.example.com",
    doc: "The web UI's address as customers reach it: each mail links to the guest's page there, signed (docs/mail.md).",
  },
  {
    section: 'smtp', name: 'link_lifetime', type: { kind: 'seconds', min: 3600, max: 90 * DAY }, env: 'PVHCTL_SMTP_LINK_LIFETIME', default: 30 * DAY,
    doc: 'Seconds a signed link in a mail stays valid.',
  },
  {
    section: 'smtp', name: 'tries', type: { kind: 'integer', min: 1, max: 10 }, env: 'PVHCTL_SMTP_TRIES', default: 4,
    doc: "Delivery tries per mail, 30 s apart and doubling, while the relay answers 'try again later' (4xx) or cannot be reached; the campaign's next round tries a failed mail again.",
  },
  {
    section: 'campaign', name: 'canary', type: { kind: 'integer', min: 0, max: 100000 }, env: 'PVHCTL_CAMPAIGN_CANARY', default: 5,
    doc: "Guests in a new campaign's first wave, the canary (0: none); `pvhctl campaign create --canary` overrides it.",
  },
  {
    section: 'campaign', name: 'notice_days', type: { kind: 'integer', min: 0, max: 365 }, env: 'PVHCTL_CAMPAIGN_NOTICE_DAYS', default: 7,
    doc: "Days of notice: a customer's notice mail goes out this many days before their guest's slot, and a new campaign's first slot is this far from its start (--notice-days).",
  },
  {
    section: 'campaign', name: 'postpone_days', type: { kind: 'integer', min: 0, max: 365 }, env: 'PVHCTL_CAMPAIGN_POSTPONE_DAYS', default: 14,
    doc: 'A customer may postpone their guest once, by up to this many days (--postpone-days).',
  },
  {
    section: 'campaign', name: 'switch_minutes', type: { kind: 'integer', min: 1, max: 1440 }, env: 'PVHCTL_CAMPAIGN_SWITCH_MINUTES', default: 15,
    doc: "Minutes one switch is expected to take: a campaign starts a guest's switch only when this still fits before its window closes (--switch-minutes).",
  },
  {
    section: 'campaign', name: 'canary_threshold', type: { kind: 'integer', min: 0, max: 100 }, env: 'PVHCTL_CAMPAIGN_CANARY_THRESHOLD', default: 0,
    doc: 'The canary wave pauses its campaign when more than this percentage of it failed (0: any failure; --canary-threshold).',
  },
  {
    section: 'campaign', name: 'wave_threshold', type: { kind: 'integer', min: 0, max: 100 }, env: 'PVHCTL_CAMPAIGN_WAVE_THRESHOLD', default: 10,
    doc: 'Any later wave pauses its campaign when more than this percentage of it failed (--wave-threshold).',
  },
  {
    section: 'campaign', name: 'days', type: { kind: 'integer', min: 1, max: 3650 }, env: 'PVHCTL_CAMPAIGN_DAYS', default: 56,
    doc: "A campaign's slots fall within this many days of its start, the bounds a customer picks another slot in (--days).",
  },
];

/** The default of a setting for the running user. */
export function defaultOf(def: SettingDef): SettingValue {
  return typeof def.default === 'function' ? def.default() : def.default;
}
