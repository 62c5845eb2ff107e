/**
 * Method dispatch, independent of how requests arrive: look the method up in the typed table,
 * let an authentication hook judge the caller, hold calls until the daemon is ready, check the
 * params against the method's schema, then run the handler with a per-call context. Transports
 * (unix-transport.ts today, a web dashboard later) only frame requests and responses.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { P2pdError, toP2pdError } from '../errors.js';
import type { Logger } from '../log.js';
import { METHOD_SCHEMAS, isMethodName, type EventsOf, type MethodName, type ParamsOf, type ResultOf } from './methods.js';

/** Who is calling, as the transport knows it. */
export interface Caller {
  /** "unix" for the control socket; another transport names itself. */
  transport: string;
  /** What the transport read from the request to authenticate it (a bearer token, …). */
  credentials?: unknown;
}

export interface CallContext<M extends MethodName = MethodName> {
  /** Aborted when the caller goes away (the connection closes). */
  signal: AbortSignal;
  /** Streams an event to the caller before the result. */
  emit<E extends keyof EventsOf<M> & string>(event: E, data: EventsOf<M>[E]): void;
  caller: Caller;
}

export type MethodHandler<M extends MethodName> = (params: ParamsOf<M>, ctx: CallContext<M>) => Promise<ResultOf<M>>;
export type MethodHandlers = { [M in MethodName]: MethodHandler<M> };

/**
 * Decides whether `caller` may call `method`; throws a P2pdError (the code the client should
 * see) to refuse. Transports whose own access control suffices (the Unix socket's file
 * permissions) are expected to be let through.
 */
export type Authenticate = (call: { method: string; caller: Caller }) => void | Promise<void>;

/** What a transport hands over for one request. */
export interface CallRequest {
  method: string;
  params: unknown;
  signal: AbortSignal;
  emit: (event: string, data: unknown) => void;
  caller: Caller;
}

export class Dispatcher {
  readonly #log: Logger;
  readonly #handlers: MethodHandlers;
  /** Each method's params check, compiled on its first call: most methods of an idle daemon never are. */
  readonly #validators = new Map<MethodName, ValidateFunction>();
  readonly #ajv = new Ajv({ allErrors: false, strict: true });
  readonly #isReady: () => boolean;
  readonly #authenticate: Authenticate | undefined;

  constructor(deps: { logger: Logger; handlers: MethodHandlers; authenticate?: Authenticate }, options: { isReady?: () => boolean } = {}) {
    this.#log = deps.logger;
    this.#handlers = deps.handlers;
    this.#authenticate = deps.authenticate;
    this.#isReady = options.isReady ?? (() => true);
  }

  /** Runs one call to its result; every failure is a P2pdError. */
  async call(request: CallRequest): Promise<unknown> {
    try {
      return await this.#call(request);
    } catch (err) {
      const e = toP2pdError(err);
      if (e.code === 'INTERNAL') this.#log.error({ err, method: request.method }, 'control request failed');
      throw e;
    }
  }

  async #call(request: CallRequest): Promise<unknown> {
    const { method, caller } = request;
    if (this.#authenticate !== undefined) {
      try {
        await this.#authenticate({ method, caller });
      } catch (err) {
        throw toP2pdError(err, 'CONTROL_BAD_REQUEST');
      }
    }
    if (!isMethodName(method)) throw new P2pdError('CONTROL_BAD_REQUEST', `unknown method "${method}"`);
    // The control socket opens before the listener (it is the single-instance lock), so requests
    // that arrive while the daemon is still starting get a clear "try again".
    if (!this.#isReady()) throw new P2pdError('DAEMON_NOT_RUNNING', 'the daemon is still starting; try again in a moment');
    const params = request.params ?? {};
    let validate = this.#validators.get(method);
    if (validate === undefined) this.#validators.set(method, (validate = this.#ajv.compile(METHOD_SCHEMAS[method])));
    if (!validate(params)) throw badParams(method, validate.errors ?? []);
    const handler = this.#handlers[method] as MethodHandler<MethodName>;
    return handler(params as never, { signal: request.signal, emit: request.emit, caller });
  }
}

/** `"peer" must be a non-empty string`, from the first complaint and the schema's description. */
function badParams(method: MethodName, errors: ErrorObject[]): P2pdError {
  const first = errors[0];
  if (first === undefined || (first.instancePath === '' && first.keyword !== 'required')) {
    return new P2pdError('CONTROL_BAD_REQUEST', '"params" must be an object', { details: { field: 'params' } });
  }
  const field =
    first.keyword === 'required' ? String(first.params.missingProperty) : (first.instancePath.split('/')[1] ?? '').replaceAll('~1', '/').replaceAll('~0', '~');
  const description = METHOD_SCHEMAS[method].properties[field]?.description ?? 'valid';
  return new P2pdError('CONTROL_BAD_REQUEST', `"${field}" must be ${description}`, { details: { field } });
}
