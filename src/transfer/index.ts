export * from './ports.js';
export * from './progress.js';
export { runSender, type SenderOptions, type SendResult } from './sender.js';
export { runReceiver, type ReceiverOptions, type ReceiveResult, type ReceiveLimits, type IncomingOffer } from './receiver.js';
export {
  TransferManager,
  newTransferId,
  type TransferView,
  type TransferState,
  type Connector,
  type Connection,
  type IncomingPolicy,
  type HistoryStore,
  type ManagerOptions,
} from './manager.js';
