/**
 * The daemon's and CLI's settings, after defaults and validation. Frozen once loaded.
 * schema.ts holds each key's allowed range; docs/CONFIG.md documents them for users.
 */
/** "trusted": trusted peers only; "all": everyone; "ask": trusted peers at once, others wait for a user. */
export type AcceptPolicy = 'trusted' | 'all' | 'ask';
/** What happens to one peer's offers: land at once, wait for a user, or refuse. */
export type PeerAcceptPolicy = 'auto' | 'ask' | 'deny';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LimitsConfig {
  /** Largest single file accepted, bytes; 0 = no limit. */
  maxFileSize: number;
  /** Largest total size of one offer, bytes; 0 = no limit. */
  maxOfferBytes: number;
  /** Most entries (files and directories) in one offer. */
  maxOfferFiles: number;
  /** Most incoming transfers running at once; more are refused with PEER_BUSY. */
  maxConcurrentIncoming: number;
  /** Most outgoing transfers running at once; more wait in a queue. */
  maxConcurrentOutgoing: number;
  /** A TLS and p2pd handshake must finish within this many seconds. */
  handshakeTimeoutSeconds: number;
  /** A connection with no traffic for this many seconds is dropped. */
  idleTimeoutSeconds: number;
  /** Seconds from an incoming connection to its complete offer (or pairing request). */
  offerTimeoutSeconds: number;
  /** An offer is refused if accepting it would leave less than this many bytes free in the inbox. */
  minFreeSpace: number;
  /** Most new connections one address may open per minute; more are dropped before TLS. */
  connectionsPerMinute: number;
}

export interface DiscoveryConfig {
  /** Announce and browse over mDNS. Off: only `host:port` sends work. */
  enabled: boolean;
  /** Longest interval between mDNS queries for peers (they start 1 s apart and double up to this). */
  refreshSeconds: number;
  /** A peer not heard from for this many seconds is dropped from the table. */
  expireSeconds: number;
}

/** LocalSend v2 (docs/LOCALSEND.md): a second protocol beside p2pd's own. */
export interface LocalSendConfig {
  /** Announce over LocalSend's multicast and receive on its HTTPS port. Off by default: a new exposure. */
  enabled: boolean;
  /** TCP port of the LocalSend HTTPS server (the multicast port stays 53317). */
  port: number;
  /** A PIN LocalSend senders must give in prepare-upload; "" = none. */
  pin: string;
  /** Send to LocalSend devices that speak plain HTTP (the bytes go in clear). */
  allowHttp: boolean;
}

export interface DeliveryConfig {
  /** After a verified delivery an outbox item is moved to <outbox>/.sent/<peer>/ ("move") or deleted. */
  afterSend: 'move' | 'delete';
  /** An outbox item is sent once its size and modification time have not changed for this long. */
  stableSeconds: number;
  /** Move an outbox item that keeps failing to <outbox>/.failed/ after this many hours; 0 = never. */
  giveUpHours: number;
}

/** node-cron expressions (5 fields, or 6 with seconds first) of the periodic jobs. */
export interface SchedulesConfig {
  /** Rescan the outbox for what the file watcher missed. */
  outboxRescan: string;
  /** Retry queued sends whose peers were away. */
  retry: string;
  /** Delete partial files older than partialMaxAgeHours. */
  cleanupPartials: string;
  /** Drop history entries older than historyMaxAgeDays. */
  pruneHistory: string;
}

/** Automatic retries of `p2pd send` transfers interrupted by something that may heal. */
export interface RetryConfig {
  /** First wait before a retry; each further wait doubles, up to maxDelaySeconds. */
  minDelaySeconds: number;
  maxDelaySeconds: number;
  /** After this long since the first attempt the send is reported failed with its last error. */
  giveUpMinutes: number;
}

/** The local web dashboard (docs/DASHBOARD.md). */
export interface DashboardConfig {
  /** Serve it on 127.0.0.1. */
  enabled: boolean;
  /** Its TCP port on 127.0.0.1; 0 = any free port. */
  port: number;
}

export interface Config {
  /** Name shown to peers and used in the mDNS instance name; default: the host name's first label. */
  name: string;
  /** TCP port of the TLS listener; 0 = any free port. */
  port: number;
  /** Where received files land. */
  inbox: string;
  /** Folder watched for files to send (outbox/<peer>/...). */
  outbox: string;
  /** Identity, trusted peers and history. */
  stateDir: string;
  /** Unix socket the CLI talks to. */
  controlSocket: string;
  /** Who may send files: "trusted" peers only, "all", or "ask" (trusted at once, others wait). */
  accept: AcceptPolicy;
  /** Per-peer overrides of `accept`, keyed by peer id or trusted name. */
  acceptOverrides: Record<string, PeerAcceptPolicy>;
  /** An offer waiting for a user's answer is refused after this many seconds. */
  askTimeoutSeconds: number;
  /** Files from each peer land in a subfolder of the inbox named after the peer. */
  inboxPerPeer: boolean;
  /** Absolute folders outside the inbox that a person may choose when accepting an offer. */
  destinations: string[];
  /** Network interfaces to announce on and browse (names such as "eth0", "lo"); empty = all non-internal. */
  interfaces: string[];
  /** Least severe log messages written. */
  logLevel: LogLevel;
  discovery: DiscoveryConfig;
  localsend: LocalSendConfig;
  limits: LimitsConfig;
  /** Most finished transfers kept in the history. */
  historySize: number;
  /** History entries older than this are dropped by the pruneHistory job. */
  historyMaxAgeDays: number;
  /** Partial files untouched for this long are deleted by the cleanupPartials job. */
  partialMaxAgeHours: number;
  /** When the inbox's disk fills up mid-file: "keep" what arrived for a resume, or "delete" it. */
  onDiskFull: 'keep' | 'delete';
  delivery: DeliveryConfig;
  dashboard: DashboardConfig;
  retry: RetryConfig;
  schedules: SchedulesConfig;
  /** Program and arguments run for each verified received file, never through a shell; the file's
   * path and the sender's name and id are appended. Empty = nothing runs. */
  onReceive: string[];
  /** An onReceive program still running after this long is killed. */
  onReceiveTimeoutSeconds: number;
  /** On SIGTERM, running transfers get this long to finish before they are cancelled. */
  shutdownGraceSeconds: number;
}

/** Where the config came from, for `p2pd status` and error messages. */
export interface LoadedConfig {
  config: Readonly<Config>;
  /** Absolute path of the file read, or null when defaults alone were used. */
  file: string | null;
  /** Whether `port` was given explicitly (so a busy default port may fall back to any free one). */
  portExplicit: boolean;
  /** Whether `dashboard.port` was given explicitly (as above, for the dashboard). */
  dashboardPortExplicit?: boolean;
}
