/**
 * The control API in one table: every method with its params, its result, the events it streams
 * before the result, and a JSON schema that the dispatcher checks params against before the
 * handler runs. Transports (the Unix socket, a web dashboard) and clients share it.
 */
import type { WatchStreamEvents } from './events.js';
import type {
  AnswerResultView,
  GroupChangeResultView,
  GroupsResultView,
  SendManyResultView,
  CancelResultView,
  IdView,
  IncomingResultView,
  PairAnswerResultView,
  PairResultView,
  PairingView,
  PairingsResultView,
  PeersResultView,
  SendResultView,
  StatusView,
  TransferView,
  TrustResultView,
  UntrustResultView,
  UiTokenView,
  UiLoginView,
  BrowseView,
  SettingsView,
} from './views.js';

export type NoParams = Record<string, never>;

export interface PeerParams {
  /** A name, name#short-id, a full id or an id prefix (and for send/pair: host:port). */
  peer: string;
}

export interface TrustParams extends PeerParams {
  /** The name to trust it under; default: the name it was trusted under before, else its own. */
  name?: string;
}

export interface SendParams extends PeerParams {
  /** Absolute paths (the CLI resolves them against its working directory). */
  paths: string[];
  /** Return as soon as the transfer is queued instead of streaming progress to the end. */
  detach?: boolean;
  /** Keep trying while the peer is offline (otherwise an offline peer fails the send at once). */
  queue?: boolean;
  /** LocalSend devices: the PIN the device asks for (never stored or shown). */
  pin?: string;
  /** LocalSend devices: send to one that speaks plain HTTP, although the files then cross the LAN in clear. */
  allowHttp?: boolean;
}

/** Streamed by `send` before the files go over plain HTTP to a LocalSend device (`allowHttp`). */
export interface SendWarningView {
  code: 'PLAIN_HTTP';
  message: string;
}

/** Exactly one of `peers`, `group` and `allTrusted` says whom to send to. */
export interface SendManyParams {
  /** What the user typed for each peer; every one is resolved before anything is sent. */
  peers?: string[];
  group?: string;
  allTrusted?: boolean;
  paths: string[];
  detach?: boolean;
  queue?: boolean;
}

export interface GroupParams {
  group: string;
  /** `group-add`: required, at least one. `group-remove`: without it, the whole group. */
  peers?: string[];
}

export interface IdParams {
  /** A transfer id (`cancel`) or an offer id (`accept`, `reject`). */
  id: string;
}

/** How one file of an offer lands: under another name, or not at all. */
export interface AcceptFileChoice {
  /** The file's index in the offer (as `incoming` lists the names). */
  index: number;
  /** A new name (one path segment or a relative path, checked like a received name). */
  rename?: string;
  skip?: boolean;
}

export interface AcceptParams extends IdParams {
  /** A folder inside the inbox (relative) to put the files in, instead of the inbox itself. */
  to?: string;
  files?: AcceptFileChoice[];
}

export interface UiLoginParams {
  /** The one-time token from `ui-token` (the `#token=` part of the dashboard's address). */
  token: string;
}

export interface BrowseParams {
  /** An absolute directory; default: the home directory of the daemon's user. */
  path?: string;
}

/** The keys `settings-set` may change: those a running daemon applies at once. */
export interface SettingsChanges {
  accept?: 'trusted' | 'all' | 'ask';
  acceptOverrides?: Record<string, 'auto' | 'ask' | 'deny'>;
  askTimeoutSeconds?: number;
  limits?: Partial<Record<RuntimeLimitKey, number>>;
}

/** Limits a SIGHUP reload applies (the others are read once at start). */
export const RUNTIME_LIMIT_KEYS = [
  'maxOfferFiles',
  'maxOfferBytes',
  'maxConcurrentIncoming',
  'handshakeTimeoutSeconds',
  'idleTimeoutSeconds',
  'minFreeSpace',
] as const;
export type RuntimeLimitKey = (typeof RUNTIME_LIMIT_KEYS)[number];

export interface PairParams extends PeerParams {
  name?: string;
}

export interface PairAnswerParams {
  ok: boolean;
  /** A pairing id; without it, the only pairing waiting for confirmation. */
  id?: string;
}

export interface WatchParams {
  /** The `seq` of the last event the client saw: resume after it instead of starting with a snapshot. */
  since?: number;
  /** The `epoch` of the stream `since` came from; another epoch (a restarted daemon) means a reset. */
  epoch?: string;
}

type NoEvents = Record<never, never>;

/** method → params, result and streamed events. */
export interface ControlMethods {
  id: { params: NoParams; result: IdView; events: NoEvents };
  peers: { params: NoParams; result: PeersResultView; events: NoEvents };
  trust: { params: TrustParams; result: TrustResultView; events: NoEvents };
  untrust: { params: PeerParams; result: UntrustResultView; events: NoEvents };
  send: { params: SendParams; result: SendResultView; events: { progress: TransferView; warning: SendWarningView } };
  'send-many': { params: SendManyParams; result: SendManyResultView; events: { progress: TransferView } };
  groups: { params: NoParams; result: GroupsResultView; events: NoEvents };
  'group-add': { params: GroupParams; result: GroupChangeResultView; events: NoEvents };
  'group-remove': { params: GroupParams; result: GroupChangeResultView; events: NoEvents };
  status: { params: NoParams; result: StatusView; events: NoEvents };
  cancel: { params: IdParams; result: CancelResultView; events: NoEvents };
  incoming: { params: NoParams; result: IncomingResultView; events: NoEvents };
  accept: { params: AcceptParams; result: AnswerResultView; events: NoEvents };
  reject: { params: IdParams; result: AnswerResultView; events: NoEvents };
  pair: { params: PairParams; result: PairResultView; events: { code: PairingView } };
  pairings: { params: NoParams; result: PairingsResultView; events: NoEvents };
  'pair-answer': { params: PairAnswerParams; result: PairAnswerResultView; events: NoEvents };
  /** Streams events until the client hangs up; it has no result of its own. */
  watch: { params: WatchParams; result: null; events: WatchStreamEvents };
  /** A one-time login token for the web dashboard and its address (docs/DASHBOARD.md). */
  'ui-token': { params: NoParams; result: UiTokenView; events: NoEvents };
  /** Trades a one-time token for a dashboard session; the only method callable without one. */
  'ui-login': { params: UiLoginParams; result: UiLoginView; events: NoEvents };
  /** Lists a directory the daemon can read (the dashboard's path picker). */
  browse: { params: BrowseParams; result: BrowseView; events: NoEvents };
  /** The effective config and which keys `settings-set` may change. */
  settings: { params: NoParams; result: SettingsView; events: NoEvents };
  /** Changes run-time-safe keys: written to the config file atomically, then applied as on SIGHUP. */
  'settings-set': { params: { changes: SettingsChanges }; result: SettingsView; events: NoEvents };
}

export type MethodName = keyof ControlMethods;
export type ParamsOf<M extends MethodName> = ControlMethods[M]['params'];
export type ResultOf<M extends MethodName> = ControlMethods[M]['result'];
export type EventsOf<M extends MethodName> = ControlMethods[M]['events'];

/**
 * A schema node with a `description` that completes "<field> must be …": the dispatcher builds
 * its CONTROL_BAD_REQUEST message from it.
 */
interface ParamSchema {
  type: 'object';
  properties: Record<string, Record<string, unknown> & { description: string }>;
  required: string[];
  /** Unknown params are ignored (docs/CONTROL.md), so newer clients keep working. */
  additionalProperties: true;
}

const nonEmpty = { type: 'string', pattern: '\\S', description: 'a non-empty string' };
const optionalString = { type: 'string', description: 'a string' };
const flag = { type: 'boolean', description: 'true or false' };
const absolutePaths = { type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' }, description: 'a non-empty list of absolute paths' };
const peerList = { type: 'array', minItems: 1, items: { type: 'string', pattern: '\\S' }, description: 'a non-empty list of non-empty strings' };
const groupName = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description: 'a group name: letters, digits, ".", "_" and "-", 64 at most, starting with a letter or digit',
};

function params(properties: ParamSchema['properties'], required: string[] = []): ParamSchema {
  return { type: 'object', properties, required, additionalProperties: true };
}

export const METHOD_SCHEMAS: { readonly [M in MethodName]: ParamSchema } = {
  id: params({}),
  peers: params({}),
  trust: params({ peer: nonEmpty, name: optionalString }, ['peer']),
  untrust: params({ peer: nonEmpty }, ['peer']),
  send: params(
    {
      peer: nonEmpty,
      paths: {
        type: 'array',
        minItems: 1,
        items: { type: 'string', pattern: '^/' },
        description: 'a non-empty list of absolute paths',
      },
      detach: flag,
      queue: flag,
      pin: { type: 'string', pattern: '^[^\\u0000-\\u001f]{1,64}$', description: 'a PIN of 1 to 64 characters, without control characters' },
      allowHttp: flag,
    },
    ['peer', 'paths'],
  ),
  'send-many': params({ peers: peerList, group: groupName, allTrusted: flag, paths: absolutePaths, detach: flag, queue: flag }, ['paths']),
  groups: params({}),
  'group-add': params({ group: groupName, peers: peerList }, ['group', 'peers']),
  'group-remove': params({ group: groupName, peers: peerList }, ['group']),
  status: params({}),
  cancel: params({ id: nonEmpty }, ['id']),
  incoming: params({}),
  accept: params(
    {
      id: nonEmpty,
      to: nonEmpty,
      files: {
        type: 'array',
        maxItems: 100_000,
        items: {
          type: 'object',
          properties: { index: { type: 'integer', minimum: 0 }, rename: { type: 'string', minLength: 1 }, skip: { type: 'boolean' } },
          required: ['index'],
          additionalProperties: false,
        },
        description: 'a list of {index, rename?, skip?}',
      },
    },
    ['id'],
  ),
  reject: params({ id: nonEmpty }, ['id']),
  pair: params({ peer: nonEmpty, name: optionalString }, ['peer']),
  pairings: params({}),
  'pair-answer': params({ ok: flag, id: optionalString }, ['ok']),
  watch: params({
    since: { type: 'integer', minimum: 0, description: 'an integer of 0 or more' },
    epoch: optionalString,
  }),
  'ui-token': params({}),
  'ui-login': params({ token: nonEmpty }, ['token']),
  browse: params({ path: { type: 'string', pattern: '^/', description: 'an absolute path' } }),
  settings: params({}),
  'settings-set': params(
    {
      changes: {
        type: 'object',
        properties: {
          accept: { type: 'string', enum: ['trusted', 'all', 'ask'] },
          acceptOverrides: { type: 'object', additionalProperties: { type: 'string', enum: ['auto', 'ask', 'deny'] } },
          askTimeoutSeconds: { type: 'integer' },
          limits: {
            type: 'object',
            properties: Object.fromEntries(RUNTIME_LIMIT_KEYS.map((k) => [k, { type: 'integer' }])),
            additionalProperties: false,
          },
        },
        additionalProperties: false,
        description: 'an object of run-time-safe keys (accept, acceptOverrides, askTimeoutSeconds, limits.*)',
      },
    },
    ['changes'],
  ),
};

export const METHOD_NAMES = Object.keys(METHOD_SCHEMAS) as MethodName[];

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHOD_SCHEMAS, name);
}
