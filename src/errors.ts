/**
 * The one error type of p2pd. Every failure that a user, a script or a peer can see carries a
 * stable `code` from ERROR_CODES; messages may change between releases, codes never do.
 * docs/ERRORS.md mirrors this table and test/unit/errors.test.ts keeps the two in sync.
 */

/** sysexits(3) statuses the CLI exits with; scripts may rely on them. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOHOST: 68,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  PROTOCOL: 76,
  NOPERM: 77,
  CONFIG: 78,
  CANCELLED: 130,
} as const;

interface CodeInfo {
  /** Exit status of the CLI when a command fails with this code. */
  readonly exit: number;
  /** One line for docs/ERRORS.md: what happened. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // configuration and local set-up
  CONFIG_INVALID: { exit: EXIT.CONFIG, summary: 'A config value is missing, of the wrong type or out of range; the message names the key.' },
  CONFIG_UNREADABLE: { exit: EXIT.CONFIG, summary: 'The config file cannot be read or is not valid JSON.' },
  STATE_CORRUPT: { exit: EXIT.SOFTWARE, summary: 'A state file under stateDir is damaged; it was set aside and the daemon started afresh.' },
  IDENTITY_INVALID: { exit: EXIT.CONFIG, summary: 'The identity key or certificate under stateDir cannot be loaded.' },
  PORT_IN_USE: { exit: EXIT.UNAVAILABLE, summary: 'The configured TCP port is taken by another program; choose another `port` or 0.' },
  USAGE: { exit: EXIT.USAGE, summary: 'The command line is wrong: a missing argument or an unknown option.' },

  // the control socket between CLI and daemon
  DAEMON_NOT_RUNNING: { exit: EXIT.UNAVAILABLE, summary: 'No daemon answers on the control socket; start it with `p2pd daemon`.' },
  DAEMON_ALREADY_RUNNING: { exit: EXIT.TEMPFAIL, summary: 'Another daemon already serves this control socket.' },
  CONTROL_SOCKET_INSECURE: { exit: EXIT.NOPERM, summary: 'The control socket or its directory is owned by another user or open to others.' },
  CONTROL_BAD_REQUEST: { exit: EXIT.SOFTWARE, summary: 'The daemon did not understand a control request (CLI and daemon versions differ?).' },
  CONTROL_UNAUTHORIZED: { exit: EXIT.NOPERM, summary: 'A dashboard request came without a valid session (log in again with `p2pd ui`), or from a foreign site or host name.' },

  // peers and their identities
  PEER_NOT_FOUND: { exit: EXIT.NOHOST, summary: 'No peer of that name or id is in the peer table.' },
  PEER_AMBIGUOUS: { exit: EXIT.USAGE, summary: 'Several peers have that name; use name#short-id or the full id.' },
  PEER_UNREACHABLE: { exit: EXIT.UNAVAILABLE, summary: 'No announced address of the peer accepted a connection.' },
  PEER_IDENTITY_MISMATCH: { exit: EXIT.NOPERM, summary: 'The peer presented a key other than the announced or pinned one: a possible impostor.' },
  PEER_NOT_TRUSTED: { exit: EXIT.NOPERM, summary: 'The receiver accepts files only from trusted peers and has not trusted the sender.' },
  PEER_REFUSED: { exit: EXIT.NOPERM, summary: 'The receiver refused the offer.' },
  PEER_BUSY: { exit: EXIT.TEMPFAIL, summary: 'The receiver has too many transfers running; try again later.' },
  PAIRING_FAILED: { exit: EXIT.PROTOCOL, summary: 'The pairing exchange broke: a nonce did not match its commitment (possible tampering) or the peer does not support pairing.' },
  PAIRING_REJECTED: { exit: EXIT.NOPERM, summary: 'A person on one side said the pairing codes do not match (or declined); nobody was trusted.' },
  PAIRING_NOT_FOUND: { exit: EXIT.FAILURE, summary: 'No pairing waiting for confirmation has that id; `p2pd pair --list` shows them.' },
  TLS_FAILED: { exit: EXIT.PROTOCOL, summary: 'The TLS handshake with the peer failed.' },

  // the wire protocol
  PROTOCOL_BAD_MAGIC: { exit: EXIT.PROTOCOL, summary: 'The peer does not speak the p2pd protocol (wrong preface).' },
  PROTOCOL_VERSION: { exit: EXIT.PROTOCOL, summary: 'The peer speaks a protocol version this daemon does not support.' },
  PROTOCOL_FRAME_TOO_LARGE: { exit: EXIT.PROTOCOL, summary: 'A frame longer than the protocol allows was announced; nothing was allocated for it.' },
  PROTOCOL_BAD_MESSAGE: { exit: EXIT.PROTOCOL, summary: 'A message is malformed: unknown type, bad JSON or a field of the wrong type.' },
  PROTOCOL_UNEXPECTED: { exit: EXIT.PROTOCOL, summary: 'A message arrived in a state where it is not allowed.' },
  PROTOCOL_TRUNCATED: { exit: EXIT.PROTOCOL, summary: 'The connection ended in the middle of a frame.' },
  TIMEOUT: { exit: EXIT.TEMPFAIL, summary: 'The peer did not answer within the configured time (handshake or idle timeout).' },
  CONNECTION_LOST: { exit: EXIT.TEMPFAIL, summary: 'The connection to the peer broke before the transfer finished.' },

  // offers and files
  OFFER_TOO_LARGE: { exit: EXIT.DATAERR, summary: 'The offer exceeds the receiver\'s limits (files, total bytes or one file\'s size).' },
  OFFER_INVALID: { exit: EXIT.DATAERR, summary: 'The offer is inconsistent: duplicate names, a file inside a file, negative sizes.' },
  NAME_INVALID: { exit: EXIT.DATAERR, summary: 'A file name is unsafe or unusable: `..`, absolute, a drive letter, control or escape characters, reserved, too long.' },
  SIZE_MISMATCH: { exit: EXIT.DATAERR, summary: 'A file\'s data was longer or shorter than its declared size.' },
  HASH_MISMATCH: { exit: EXIT.DATAERR, summary: 'A file\'s SHA-256 at the receiver differs from the sender\'s; the file was discarded.' },
  SOURCE_NOT_FOUND: { exit: EXIT.NOINPUT, summary: 'A path given to send does not exist or cannot be read.' },
  SOURCE_UNSUPPORTED: { exit: EXIT.NOINPUT, summary: 'A path given to send is neither a regular file nor a directory (symlinks are not followed inside directories).' },
  SOURCE_CHANGED: { exit: EXIT.TEMPFAIL, summary: 'A file changed size while it was being sent; send it again once it is complete.' },
  INSUFFICIENT_SPACE: { exit: EXIT.CANTCREAT, summary: 'The receiver refused an offer that would not fit in its inbox (the message says how much is needed and free).' },
  OFFER_NOT_FOUND: { exit: EXIT.FAILURE, summary: 'No offer waiting for an answer has that id; `p2pd incoming` lists them.' },
  DISK_FULL: { exit: EXIT.CANTCREAT, summary: 'The receiver\'s inbox has no room for the data.' },
  INBOX_UNWRITABLE: { exit: EXIT.CANTCREAT, summary: 'The receiver cannot write into its inbox (permissions or a missing directory).' },

  // transfers
  TRANSFER_CANCELLED: { exit: EXIT.CANCELLED, summary: 'The transfer was cancelled by a user on either side or by shutdown.' },
  TRANSFER_NOT_FOUND: { exit: EXIT.FAILURE, summary: 'No transfer has that id.' },
  TRANSFER_FAILED: { exit: EXIT.FAILURE, summary: 'Some files of the transfer did not arrive verified; see each file\'s code.' },

  // p2pd service install | uninstall | status
  SERVICE_NEEDS_ROOT: { exit: EXIT.NOPERM, summary: 'Installing or removing the system service (`--system`) needs root: run the command with sudo.' },
  SERVICE_UNSUPPORTED: { exit: EXIT.UNAVAILABLE, summary: '`p2pd service` supports systemd on Linux and launchd on macOS only, and paths that a unit file can hold.' },
  SERVICE_INSTALL_FAILED: { exit: EXIT.FAILURE, summary: 'A step of `p2pd service` failed: writing or removing a file, or a command such as systemctl; the message shows its output.' },

  INTERNAL: { exit: EXIT.SOFTWARE, summary: 'A bug in p2pd; the log has the details. Please report it.' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export class P2pdError extends Error {
  override readonly name = 'P2pdError';
  readonly code: ErrorCode;
  /** Structured facts for logs and --json output (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  get exitStatus(): number {
    return ERROR_CODES[this.code].exit;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  /** Rebuilds an error that crossed a socket as {code, message}; unknown codes become INTERNAL. */
  static fromJSON(value: unknown): P2pdError {
    const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const code = isErrorCode(v.code) ? v.code : 'INTERNAL';
    const message = typeof v.message === 'string' ? v.message : 'unknown error';
    const details = typeof v.details === 'object' && v.details !== null ? (v.details as Record<string, unknown>) : undefined;
    return new P2pdError(code, message, details === undefined ? {} : { details });
  }
}

/** Wraps anything thrown into a P2pdError, keeping the original as `cause`. */
export function toP2pdError(err: unknown, fallback: ErrorCode = 'INTERNAL'): P2pdError {
  if (err instanceof P2pdError) return err;
  if (isAbortError(err)) {
    const reason = (err as { cause?: unknown }).cause;
    if (reason instanceof P2pdError) return reason;
    return new P2pdError('TRANSFER_CANCELLED', 'cancelled', { cause: err });
  }
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return new P2pdError('DISK_FULL', 'no space left in the inbox', { cause: err });
  if (errno === 'ECONNRESET' || errno === 'EPIPE' || errno === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new P2pdError('CONNECTION_LOST', 'the connection to the peer was lost', { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new P2pdError(fallback, message, { cause: err });
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR');
}
