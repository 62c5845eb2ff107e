export * from './ports.js';
export * from './progress.js';
export { runSender, type SenderOptions, type SendResult } from './sender.js';
export { runReceiver, type ReceiverOptions, type ReceiveResult, type ReceiveLimits, type IncomingOffer } from './receiver.js';
export { TransferManager, type ManagerOptions, type ManagerEvents, type SendRequest } from './manager.js';
export { newTransferId, type TransferRecord, type TransferState, type HistoryStore } from './records.js';
export {
  AdmissionGate,
  MAX_PENDING_OFFERS,
  type Admission,
  type AdmissionEvents,
  type AdmissionOptions,
  type Arrival,
  type InboundConnectionView,
  type IncomingPolicy,
  type OfferLimits,
  type OfferOutcome,
  type OfferSender,
  type OfferSummary,
  type PendingOffer,
  type SpaceCheck,
} from './admission.js';
export type {
  AttemptResult,
  Connection,
  Connector,
  InboundConnection,
  InboundResult,
  InboundSession,
  OutgoingAttempt,
  PeerAddress,
  SessionDriver,
} from './drivers.js';
export { P2pdDriver, type P2pdDriverOptions, type PairingResponder } from './p2pd-driver.js';
export type { RetryMode, RetryOptions } from './send-loop.js';
export { exchangeHello } from './handshake.js';
export { PairingManager, type PairingEvents, type PairingOutcome, type PairingPolicy, type PairingRecord, type TrustPort } from './pairings.js';
