/**
 * The control API: the views (the stable `--json` documents), the method table with its
 * schemas, the dispatcher, the Unix-socket transport and its client, and the `watch` event log.
 */
export * from './api.js';
export * from './methods.js';
export * from './events.js';
export { ControlClient, type RequestOptions, type TypedRequestOptions } from './client.js';
export { Dispatcher, type Authenticate, type CallContext, type CallRequest, type Caller, type MethodHandler, type MethodHandlers } from './dispatcher.js';
export { UnixSocketTransport, DEFAULT_UNIX_LIMITS, type UnixTransportLimits } from './unix-transport.js';
