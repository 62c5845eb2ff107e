/**
 * The JSON Schema (draft-07) of the config file. Every key is optional in the file: load.ts fills
 * the gaps from defaults.ts. Keys starting with "//" are comments and are allowed at every level.
 *
 * Adding a key: add it to types.ts, here, defaults.ts, config.example.json and docs/CONFIG.md;
 * test/unit/config.test.ts walks this schema and fails until the example and the doc have it.
 */

/** The subset of JSON Schema this file uses; load.ts reads it to explain a bad value. */
export interface SchemaNode {
  readonly type: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  readonly description: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly patternProperties?: Readonly<Record<string, Record<string, never>>>;
  readonly additionalProperties?: false | SchemaNode;
  readonly items?: SchemaNode;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
}

/** Characters a peer name may not contain: C0 and C1 controls, DEL, and "/" (a regex class body). */
export const NAME_FORBIDDEN_CHARS = '\\u0000-\\u001f\\u007f-\\u009f/';
/** The longest name: one DNS label, which mDNS also counts in UTF-8 bytes (load.ts checks those). */
export const NAME_MAX_LENGTH = 63;
const NAME_PATTERN = `^[^${NAME_FORBIDDEN_CHARS}]+$`;
const PATH_PATTERN = '^[^\\u0000]+$';
const ABSOLUTE_PATH_PATTERN = '^/[^\\u0000]*$';

/** Plain words for the patterns above, used in error messages and docs. */
export const PATTERN_TEXT: Readonly<Record<string, string>> = {
  [NAME_PATTERN]: 'without control characters or "/"',
  [PATH_PATTERN]: 'without NUL characters',
  [ABSOLUTE_PATH_PATTERN]: 'an absolute path without NUL characters',
};

/** Keys matching this are comments: accepted anywhere, ignored. */
export const COMMENT_KEY_PATTERN = '^//';
const comments = { [COMMENT_KEY_PATTERN]: {} };

function integer(minimum: number, maximum: number, description: string): SchemaNode {
  return { type: 'integer', minimum, maximum, description };
}

function path(description: string): SchemaNode {
  return { type: 'string', minLength: 1, pattern: PATH_PATTERN, description };
}

/** Whether a key holds a file system path (so "~" is expanded and relative values resolved). */
export function isPathSchema(node: SchemaNode): boolean {
  return node.type === 'string' && node.pattern === PATH_PATTERN;
}

const limits: SchemaNode = {
  type: 'object',
  description: 'Limits on what peers may send and on connections.',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    maxFileSize: integer(0, Number.MAX_SAFE_INTEGER, 'Largest single file accepted, in bytes; 0 = no limit.'),
    maxOfferBytes: integer(0, Number.MAX_SAFE_INTEGER, 'Largest total size of one offer, in bytes; 0 = no limit.'),
    maxOfferFiles: integer(1, 10_000_000, 'Most entries (files and directories) in one offer.'),
    maxConcurrentIncoming: integer(1, 256, 'Most incoming transfers running at once; more are refused with PEER_BUSY.'),
    maxConcurrentOutgoing: integer(1, 256, 'Most outgoing transfers running at once; more wait in a queue.'),
    handshakeTimeoutSeconds: integer(1, 600, 'Seconds within which the TLS and p2pd handshakes must finish.'),
    idleTimeoutSeconds: integer(5, 86_400, 'Seconds without traffic after which a connection is dropped.'),
    offerTimeoutSeconds: integer(1, 3600, 'Seconds within which an incoming connection must complete its offer; heartbeats do not extend it.'),
    minFreeSpace: integer(0, Number.MAX_SAFE_INTEGER, 'Bytes that must stay free in the inbox after an offer; an offer that would not fit is refused.'),
    connectionsPerMinute: integer(1, 100_000, 'Most new connections one address may open per minute; more are dropped before TLS.'),
  },
};

const localsend: SchemaNode = {
  type: 'object',
  description: 'LocalSend v2: phones and LocalSend apps on the LAN can send to this daemon and receive from it.',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    enabled: { type: 'boolean', description: 'Announce over LocalSend multicast on the chosen interfaces and receive on localsend.port; off by default.' },
    port: integer(0, 65_535, 'TCP port of the LocalSend HTTPS server; 0 = any free port (tests).'),
    pin: { type: 'string', maxLength: 64, description: 'A PIN LocalSend senders must give; "" = none.' },
    allowHttp: { type: 'boolean', description: 'Send to LocalSend devices that speak plain HTTP; the bytes then cross the LAN in clear.' },
  },
};

const discovery: SchemaNode = {
  type: 'object',
  description: 'Finding peers on the local network over mDNS.',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    enabled: { type: 'boolean', description: 'Announce this daemon and browse for peers over mDNS; off: only host:port sends work.' },
    refreshSeconds: integer(1, 3600, 'Longest interval between mDNS queries for peers: they start 1 s apart and double up to this.'),
    expireSeconds: integer(3, 86_400, 'Seconds after which a peer not heard from is dropped; must be greater than refreshSeconds.'),
  },
};

const cron = (description: string): SchemaNode => ({ type: 'string', minLength: 9, maxLength: 200, description });

const delivery: SchemaNode = {
  type: 'object',
  description: 'How files dropped into the outbox are delivered.',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    afterSend: {
      type: 'string',
      enum: ['move', 'delete'],
      description: 'After a verified delivery: "move" the item to <outbox>/.sent/<peer>/, or "delete" it.',
    },
    stableSeconds: integer(1, 3600, 'Seconds an outbox item must stay unchanged (size and mtime) before it is sent.'),
    giveUpHours: integer(0, 87_600, 'Hours of failed attempts after which an outbox item moves to <outbox>/.failed/; 0 = keep trying.'),
  },
};

const retry: SchemaNode = {
  type: 'object',
  description: 'Automatic retries of sends interrupted by something that may heal (peer away, link cut, daemon restarted).',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    minDelaySeconds: integer(1, 3600, 'Seconds before the first retry; each next wait doubles.'),
    maxDelaySeconds: integer(1, 86_400, 'Longest wait between two retries, in seconds.'),
    giveUpMinutes: integer(1, 525_600, 'Minutes after the first attempt when a send that keeps failing is reported failed.'),
  },
};

const dashboard: SchemaNode = {
  type: 'object',
  description: 'The local web dashboard, served on 127.0.0.1 only (docs/DASHBOARD.md).',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    enabled: { type: 'boolean', description: 'Serve the dashboard; `p2pd ui` prints its address.' },
    port: integer(0, 65_535, 'TCP port of the dashboard on 127.0.0.1; 0 = any free port. If the default is taken, a free port is used.'),
  },
};

const schedules: SchemaNode = {
  type: 'object',
  description: 'When the periodic jobs run, as cron expressions (5 fields, or 6 with seconds first).',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    outboxRescan: cron('Rescan the outbox for files the watcher missed (network file systems, files dropped while stopped).'),
    retry: cron('Retry queued outbox sends whose peer was away or busy.'),
    cleanupPartials: cron('Delete partial files in the inbox older than partialMaxAgeHours.'),
    pruneHistory: cron('Drop transfer history older than historyMaxAgeDays.'),
  },
};

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'p2pd configuration',
  type: 'object',
  description: 'Settings of the p2pd daemon and CLI. Every key is optional; keys starting with "//" are comments.',
  additionalProperties: false,
  patternProperties: comments,
  properties: {
    name: {
      type: 'string',
      minLength: 1,
      maxLength: NAME_MAX_LENGTH,
      pattern: NAME_PATTERN,
      description: 'Name shown to peers and used in the mDNS service name; default: the first label of the host name.',
    },
    port: integer(0, 65_535, 'TCP port of the TLS listener; 0 = any free port.'),
    inbox: path('Directory where received files land.'),
    outbox: path('Directory watched for files to send: outbox/<peer>/...'),
    stateDir: path('Directory for the identity, trusted peers and history.'),
    controlSocket: path('Unix socket the CLI talks to the daemon through; default: <stateDir>/control.sock.'),
    accept: {
      type: 'string',
      enum: ['trusted', 'all', 'ask'],
      description: 'Who may send files: "ask" (trusted peers at once, others wait for you), "trusted" (others refused) or "all".',
    },
    acceptOverrides: {
      type: 'object',
      description: 'Per-peer overrides of accept, keyed by a peer id or a trusted name: "auto", "ask" or "deny".',
      additionalProperties: { type: 'string', enum: ['auto', 'ask', 'deny'], description: "What happens to this peer's offers." },
    },
    askTimeoutSeconds: integer(5, 86_400, 'Seconds an offer waits for `p2pd accept` before it is refused.'),
    inboxPerPeer: { type: 'boolean', description: 'Files from each peer land in a subfolder of the inbox named after the peer.' },
    destinations: {
      type: 'array',
      items: { type: 'string', minLength: 1, pattern: ABSOLUTE_PATH_PATTERN, description: 'An absolute folder, such as "/srv/media".' },
      description: 'Folders outside the inbox that `p2pd accept --to` may choose for an offer; empty = only folders inside the inbox.',
    },
    interfaces: {
      type: 'array',
      items: { type: 'string', minLength: 1, description: 'A network interface name such as "eth0".' },
      description: 'Network interfaces to announce on and browse; empty = all non-internal ones.',
    },
    logLevel: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      description: 'Least severe log messages written.',
    },
    discovery,
    localsend,
    limits,
    historySize: integer(0, 100_000, 'Most finished transfers kept in the history.'),
    historyMaxAgeDays: integer(1, 36_500, 'Days after which the pruneHistory job drops a finished transfer from the history.'),
    onDiskFull: {
      type: 'string',
      enum: ['keep', 'delete'],
      description: 'When the inbox disk fills up mid-file: "keep" what arrived for a resume once there is room, or "delete" it.',
    },
    partialMaxAgeHours: integer(1, 87_600, 'Hours after which the cleanupPartials job deletes an untouched partial file.'),
    delivery,
    dashboard,
    retry,
    schedules,
    onReceive: {
      type: 'array',
      items: { type: 'string', minLength: 1, description: 'The program, then its arguments.' },
      description:
        'Program run (never through a shell) for each verified received file, with the file path, the sender name and the sender id appended; empty = none.',
    },
    onReceiveTimeoutSeconds: integer(1, 86_400, 'Seconds after which a still-running onReceive program is killed.'),
    shutdownGraceSeconds: integer(0, 3600, 'Seconds running transfers get to finish after SIGTERM before they are cancelled.'),
  },
} as const satisfies SchemaNode & { $schema: string; title: string };
