/** The transfer history kept in memory, newest first, as the state file keeps it. */
import type { HistoryStore, TransferRecord } from '../../src/transfer/records.js';

export class MemoryHistory implements HistoryStore {
  readonly records: TransferRecord[] = [];
  add(record: TransferRecord): void {
    this.records.unshift(record);
  }
  list(): TransferRecord[] {
    return [...this.records];
  }
}
