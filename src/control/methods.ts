/**
 * The control API in one table: every method with its params, its result, the events it streams
 * before the result, and a JSON schema that the dispatcher checks params against before the
 * handler runs. Transports (the Unix socket, a web dashboard) and clients share it.
 */
import type { WatchStreamEvents } from './events.js';
import type {
  AnswerResultView,
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
}

export interface IdParams {
  /** A transfer id (`cancel`) or an offer id (`accept`, `reject`). */
  id: string;
}

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
  send: { params: SendParams; result: SendResultView; events: { progress: TransferView } };
  status: { params: NoParams; result: StatusView; events: NoEvents };
  cancel: { params: IdParams; result: CancelResultView; events: NoEvents };
  incoming: { params: NoParams; result: IncomingResultView; events: NoEvents };
  accept: { params: IdParams; result: AnswerResultView; events: NoEvents };
  reject: { params: IdParams; result: AnswerResultView; events: NoEvents };
  pair: { params: PairParams; result: PairResultView; events: { code: PairingView } };
  pairings: { params: NoParams; result: PairingsResultView; events: NoEvents };
  'pair-answer': { params: PairAnswerParams; result: PairAnswerResultView; events: NoEvents };
  /** Streams events until the client hangs up; it has no result of its own. */
  watch: { params: WatchParams; result: null; events: WatchStreamEvents };
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
    },
    ['peer', 'paths'],
  ),
  status: params({}),
  cancel: params({ id: nonEmpty }, ['id']),
  incoming: params({}),
  accept: params({ id: nonEmpty }, ['id']),
  reject: params({ id: nonEmpty }, ['id']),
  pair: params({ peer: nonEmpty, name: optionalString }, ['peer']),
  pairings: params({}),
  'pair-answer': params({ ok: flag, id: optionalString }, ['ok']),
  watch: params({
    since: { type: 'integer', minimum: 0, description: 'an integer of 0 or more' },
    epoch: optionalString,
  }),
};

export const METHOD_NAMES = Object.keys(METHOD_SCHEMAS) as MethodName[];

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHOD_SCHEMAS, name);
}
