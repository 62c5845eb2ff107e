/**
 * The control socket's request/response protocol, shared by the daemon's server and the CLI's
 * client: newline-delimited JSON over a Unix socket. docs/CONTROL.md documents it; the field names
 * of the views below are the stable `--json` interface.
 */
import type { TransferView } from '../transfer/manager.js';
import type { OutboxItemView } from '../outbox/ports.js';

export const CONTROL_API_VERSION = 1;
/** Longest line either side accepts; a longer one is a broken or hostile client. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export interface ControlRequest {
  id: number;
  method: string;
  params?: Record<string, unknown>;
}

export type ControlResponse =
  | { id: number; result: unknown }
  | { id: number; error: { code: string; message: string; details?: Record<string, unknown> } }
  | { id: number; event: string; data: unknown };

export interface IdView {
  name: string;
  id: string;
  /** The id in groups of four, for reading aloud. */
  fingerprint: string;
  shortId: string;
  port: number;
  version: string;
  protocolVersion: number;
  inbox: string;
  controlSocket: string;
}

export interface PeerView {
  id: string;
  shortId: string;
  /** The name the peer announces (or the trusted name when it is offline). */
  name: string;
  /** What to type to address it: the name, or name#short-id when several peers share the name. */
  displayName: string;
  /** "host:port" strings, most recent first. */
  addresses: string[];
  trusted: boolean;
  /** The name it was trusted under, if trusted. */
  trustedName: string | null;
  /** Seen over mDNS recently. */
  online: boolean;
  lastSeen: string | null;
  /**
   * Set when this untrusted peer announces the name of a trusted peer with another key: the
   * trusted name it claims. It never receives what is sent to that name.
   */
  impersonates: string | null;
}

export interface StatusView {
  daemon: {
    name: string;
    id: string;
    version: string;
    pid: number;
    uptimeSeconds: number;
    port: number;
    inbox: string;
    peersOnline: number;
  };
  transfers: TransferView[];
  /** Items waiting in or being sent from the outbox. */
  outbox: OutboxItemView[];
  /** The periodic jobs, their schedules and last runs. */
  jobs: Array<{
    name: string;
    schedule: string;
    runs: number;
    lastRunAt: string | null;
    lastError: { code: string; message: string } | null;
    nextRunAt: string | null;
  }>;
}

export interface SendParams {
  peer: string;
  /** Absolute paths (the CLI resolves them against its working directory). */
  paths: string[];
  /** Return as soon as the transfer is queued instead of streaming progress to the end. */
  detach?: boolean;
  /** Keep trying while the peer is offline (otherwise an offline peer fails the send at once). */
  queue?: boolean;
}

export interface SendResultView {
  transfer: TransferView;
  skipped: Array<{ path: string; reason: string }>;
}

export interface TrustResultView {
  peer: PeerView;
  fingerprint: string;
  alreadyTrusted: boolean;
}

export interface UntrustResultView {
  peer: PeerView;
  removed: boolean;
}

/** Splits a byte stream into lines, refusing over-long ones. */
export class LineSplitter {
  #buffered: Buffer[] = [];
  #size = 0;

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) break;
      const part = chunk.subarray(start, nl);
      const line = this.#size === 0 ? part : Buffer.concat([...this.#buffered, part]);
      this.#buffered = [];
      this.#size = 0;
      lines.push(line.toString('utf8'));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#buffered.push(chunk.subarray(start));
      this.#size += chunk.length - start;
      if (this.#size > MAX_LINE_BYTES) throw new Error('control line too long');
    }
    return lines;
  }
}
