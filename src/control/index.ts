export * from './api.js';
export { ControlClient, type RequestOptions } from './client.js';
export { ControlServer, type Handler, type Handlers, type HandlerContext } from './server.js';
