/**
 * The transport: who we are (identity, peer ids) and how peers reach each other (mutual TLS 1.3).
 * Everything other modules may use is exported here.
 */
export { loadOrCreateIdentity, identityPaths } from './identity.js';
export type { Identity, IdentityPaths } from './identity.js';
export { PEER_ID_LENGTH, formatPeerId, isPeerId, parsePeerId, peerIdFromCertificate, peerIdFromSpki, shortId } from './peer-id.js';
export { DEFAULT_STAGGER_MS, TLS_CIPHERS, createTlsListener, dialTls } from './tls.js';
export type {
  DialAddress,
  DialTlsDeps,
  DialTlsOptions,
  DialTlsResult,
  TlsListener,
  TlsListenerDeps,
  TlsListenerOptions,
  TlsPeer,
  TransportLogger,
} from './tls.js';
