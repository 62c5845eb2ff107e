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
  /** A send delivered part of what was asked: some peers, or the files a receiver did not decline. */
  PARTIAL: 3,
  CANCELLED: 130,
} as const;

/**
 * Whose doing a failure is, seen from the side that raises it: this machine (its files, disk,
 * config, a user's mistake), the peer (it broke the protocol, sent wrong data, or did not answer),
 * the network between them, or a decision (a person, or the receiver's accept settings and limits).
 */
export type FaultSide = 'local' | 'peer' | 'network' | 'policy';

interface CodeInfo {
  /** Whose doing it is; a session tells the peer about failures of its own side and of the peer's. */
  readonly side: FaultSide;
  /** Exit status of the CLI when a command fails with this code. */
  readonly exit: number;
  /** May heal by itself: a send is tried again with backoff. */
  readonly retryable?: true;
  /**
   * The receiver refused the sender or its offer before any data flowed: answered with ANSWER
   * accept=false, and worth a history line even when no transfer existed yet.
   */
  readonly refusal?: true;
  /** Sending the same again fails the same way until a person acts (the outbox gives up at once). */
  readonly permanent?: true;
  /** One line for docs/ERRORS.md: what happened. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // configuration and local set-up
  CONFIG_INVALID: { side: 'local', exit: EXIT.CONFIG, summary: 'A config value is missing, of the wrong type or out of range; the message names the key.' },
  CONFIG_UNREADABLE: { side: 'local', exit: EXIT.CONFIG, summary: 'The config file cannot be read or is not valid JSON.' },
  STATE_CORRUPT: { side: 'local', exit: EXIT.SOFTWARE, summary: 'A state file under stateDir is damaged; it was set aside and the daemon started afresh.' },
  IDENTITY_INVALID: { side: 'local', exit: EXIT.CONFIG, summary: 'The identity key or certificate under stateDir cannot be loaded.' },
  PORT_IN_USE: { side: 'local', exit: EXIT.UNAVAILABLE, summary: 'The configured TCP port is taken by another program; choose another `port` or 0.' },
  USAGE: { side: 'local', exit: EXIT.USAGE, summary: 'The command line is wrong: a missing argument or an unknown option.' },

  // the control socket between CLI and daemon
  DAEMON_NOT_RUNNING: {
    side: 'local',
    retryable: true,
    exit: EXIT.UNAVAILABLE,
    summary: 'No daemon answers on the control socket; start it with `p2pd daemon`.',
  },
  DAEMON_ALREADY_RUNNING: { side: 'local', exit: EXIT.TEMPFAIL, summary: 'Another daemon already serves this control socket.' },
  CONTROL_SOCKET_INSECURE: { side: 'local', exit: EXIT.NOPERM, summary: 'The control socket or its directory is owned by another user or open to others.' },
  CONTROL_BAD_REQUEST: { side: 'local', exit: EXIT.SOFTWARE, summary: 'The daemon did not understand a control request (CLI and daemon versions differ?).' },
  DASHBOARD_OFF: { side: 'local', exit: EXIT.UNAVAILABLE, summary: 'The web dashboard is turned off in the config (`dashboard.enabled`).' },
  CONTROL_UNAUTHORIZED: {
    side: 'local',
    exit: EXIT.NOPERM,
    summary: 'A dashboard request came without a valid session (log in again with `p2pd ui`), or from a foreign site or host name.',
  },

  // peers and their identities
  PEER_NOT_FOUND: { side: 'network', exit: EXIT.NOHOST, summary: 'No peer of that name or id is in the peer table.' },
  PEER_AMBIGUOUS: { side: 'local', permanent: true, exit: EXIT.USAGE, summary: 'Several peers have that name; use name#short-id or the full id.' },
  PEER_UNREACHABLE: { side: 'network', retryable: true, exit: EXIT.UNAVAILABLE, summary: 'No announced address of the peer accepted a connection.' },
  PEER_IDENTITY_MISMATCH: { side: 'peer', exit: EXIT.NOPERM, summary: 'The peer presented a key other than the announced or pinned one: a possible impostor.' },
  PEER_NOT_TRUSTED: {
    side: 'policy',
    refusal: true,
    permanent: true,
    exit: EXIT.NOPERM,
    summary: 'The receiver accepts files only from trusted peers and has not trusted the sender.',
  },
  PEER_REFUSED: { side: 'policy', refusal: true, permanent: true, exit: EXIT.NOPERM, summary: 'The receiver refused the offer.' },
  PEER_BUSY: { side: 'peer', retryable: true, exit: EXIT.TEMPFAIL, summary: 'The receiver has too many transfers running; try again later.' },
  PAIRING_FAILED: {
    side: 'peer',
    exit: EXIT.PROTOCOL,
    summary: 'The pairing exchange broke: a nonce did not match its commitment (possible tampering) or the peer does not support pairing.',
  },
  PAIRING_REJECTED: {
    side: 'policy',
    exit: EXIT.NOPERM,
    summary: 'A person on one side said the pairing codes do not match (or declined); nobody was trusted.',
  },
  PAIRING_NOT_FOUND: { side: 'local', exit: EXIT.FAILURE, summary: 'No pairing waiting for confirmation has that id; `p2pd pair --list` shows them.' },
  TLS_FAILED: { side: 'network', retryable: true, exit: EXIT.PROTOCOL, summary: 'The TLS handshake with the peer failed.' },
  // LocalSend devices (docs/LOCALSEND.md)
  PIN_REQUIRED: {
    side: 'policy',
    permanent: true,
    exit: EXIT.NOPERM,
    summary: 'The LocalSend device asks for a PIN: send again with `--pin` (on a terminal, `p2pd send` asks for it).',
  },
  PIN_WRONG: { side: 'policy', permanent: true, exit: EXIT.NOPERM, summary: 'The LocalSend device refused the PIN given; its tries are limited.' },
  PIN_TRIES_EXCEEDED: {
    side: 'policy',
    exit: EXIT.TEMPFAIL,
    summary: 'The LocalSend device refuses this address for a while after too many wrong PINs; wait before trying again.',
  },
  PLAIN_HTTP_REFUSED: {
    side: 'local',
    permanent: true,
    exit: EXIT.NOPERM,
    summary: 'The LocalSend device speaks plain HTTP, which carries the files in clear; send with `--allow-http` or set `localsend.allowHttp` to allow it.',
  },

  // the wire protocol
  PROTOCOL_BAD_MAGIC: { side: 'peer', exit: EXIT.PROTOCOL, summary: 'The peer does not speak the p2pd protocol (wrong preface).' },
  PROTOCOL_VERSION: { side: 'peer', exit: EXIT.PROTOCOL, summary: 'The peer speaks a protocol version this daemon does not support.' },
  PROTOCOL_FRAME_TOO_LARGE: {
    side: 'peer',
    exit: EXIT.PROTOCOL,
    summary: 'A frame longer than the protocol allows was announced; nothing was allocated for it.',
  },
  PROTOCOL_BAD_MESSAGE: { side: 'peer', exit: EXIT.PROTOCOL, summary: 'A message is malformed: unknown type, bad JSON or a field of the wrong type.' },
  PROTOCOL_UNEXPECTED: { side: 'peer', exit: EXIT.PROTOCOL, summary: 'A message arrived in a state where it is not allowed.' },
  PROTOCOL_TRUNCATED: { side: 'network', exit: EXIT.PROTOCOL, summary: 'The connection ended in the middle of a frame.' },
  TIMEOUT: { side: 'peer', retryable: true, exit: EXIT.TEMPFAIL, summary: 'The peer did not answer within the configured time (handshake or idle timeout).' },
  CONNECTION_LOST: { side: 'network', retryable: true, exit: EXIT.TEMPFAIL, summary: 'The connection to the peer broke before the transfer finished.' },

  // offers and files
  OFFER_TOO_LARGE: {
    side: 'policy',
    refusal: true,
    permanent: true,
    exit: EXIT.DATAERR,
    summary: "The offer exceeds the receiver's limits (files, total bytes or one file's size).",
  },
  OFFER_INVALID: {
    side: 'peer',
    refusal: true,
    permanent: true,
    exit: EXIT.DATAERR,
    summary: 'The offer is inconsistent: duplicate names, a file inside a file, negative sizes.',
  },
  NAME_INVALID: {
    side: 'peer',
    refusal: true,
    permanent: true,
    exit: EXIT.DATAERR,
    summary: 'A file name is unsafe or unusable: `..`, absolute, a drive letter, control or escape characters, reserved, too long.',
  },
  SIZE_MISMATCH: { side: 'peer', exit: EXIT.DATAERR, summary: "A file's data was longer or shorter than its declared size." },
  HASH_MISMATCH: { side: 'peer', exit: EXIT.DATAERR, summary: "A file's SHA-256 at the receiver differs from the sender's; the file was discarded." },
  SOURCE_NOT_FOUND: { side: 'local', exit: EXIT.NOINPUT, summary: 'A path given to send does not exist (or vanished before it was read).' },
  SOURCE_UNREADABLE: {
    side: 'local',
    permanent: true,
    exit: EXIT.NOINPUT,
    summary: "A file or directory given to send exists but the daemon's user may not read it; nothing was offered.",
  },
  SOURCE_UNSUPPORTED: {
    side: 'local',
    permanent: true,
    exit: EXIT.NOINPUT,
    summary: 'A path given to send is neither a regular file nor a directory (symlinks are not followed inside directories).',
  },
  SOURCE_CHANGED: {
    side: 'local',
    retryable: true,
    exit: EXIT.TEMPFAIL,
    summary: 'A file changed size while it was being sent; send it again once it is complete.',
  },
  INSUFFICIENT_SPACE: {
    side: 'local',
    refusal: true,
    exit: EXIT.CANTCREAT,
    summary: 'The receiver refused an offer that would not fit in its inbox (the message says how much is needed and free).',
  },
  OFFER_NOT_FOUND: {
    side: 'local',
    exit: EXIT.FAILURE,
    summary:
      'No offer waiting for an answer has that id: it was answered, expired, withdrawn by its sender (the message says which) or never existed; `p2pd incoming` lists them.',
  },
  DISK_FULL: { side: 'local', refusal: true, exit: EXIT.CANTCREAT, summary: "The receiver's inbox has no room for the data." },
  INBOX_UNWRITABLE: {
    side: 'local',
    refusal: true,
    exit: EXIT.CANTCREAT,
    summary: 'The receiver cannot write into its inbox (permissions or a missing directory).',
  },

  // transfers
  TRANSFER_CANCELLED: { side: 'policy', exit: EXIT.CANCELLED, summary: 'The transfer was cancelled by a user on either side or by shutdown.' },
  TRANSFER_NOT_FOUND: { side: 'local', exit: EXIT.FAILURE, summary: 'No transfer has that id.' },
  TRANSFER_FAILED: { side: 'peer', exit: EXIT.FAILURE, summary: "Some files of the transfer did not arrive verified; see each file's code." },
  SEND_PARTIAL: {
    side: 'peer',
    exit: EXIT.PARTIAL,
    summary: 'A send to several peers reached some of them but not every peer got every file; see each transfer.',
  },
  SEND_ALL_FAILED: { side: 'peer', exit: EXIT.FAILURE, summary: 'A send to several peers reached none of them completely; see each transfer.' },
  GROUP_NOT_FOUND: { side: 'local', exit: EXIT.USAGE, summary: 'No group of peers has that name; `p2pd group list` shows them.' },

  // p2pd service install | uninstall | status
  SERVICE_NEEDS_ROOT: {
    side: 'local',
    exit: EXIT.NOPERM,
    summary: 'Installing or removing the system service (`--system`) needs root: run the command with sudo.',
  },
  SERVICE_UNSUPPORTED: {
    side: 'local',
    exit: EXIT.UNAVAILABLE,
    summary: '`p2pd service` supports systemd on Linux and launchd on macOS only, and paths that a unit file can hold.',
  },
  SERVICE_INSTALL_FAILED: {
    side: 'local',
    exit: EXIT.FAILURE,
    summary: 'A step of `p2pd service` failed: writing or removing a file, or a command such as systemctl; the message shows its output.',
  },

  INTERNAL: { side: 'local', exit: EXIT.SOFTWARE, summary: 'A bug in p2pd; the log has the details. Please report it.' },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

function infoOf(code: ErrorCode): CodeInfo {
  return ERROR_CODES[code];
}

/** Whether a send that failed with `code` may be tried again (with backoff). */
export function isRetryable(code: ErrorCode): boolean {
  return infoOf(code).retryable === true;
}

/** Whether `code` is a receiver's refusal of a sender or an offer (see CodeInfo.refusal). */
export function isRefusal(code: ErrorCode): boolean {
  return infoOf(code).refusal === true;
}

/** Whether sending again cannot help until a person acts. */
export function isPermanent(code: ErrorCode): boolean {
  return infoOf(code).permanent === true;
}

/** Whose doing a failure with `code` is. */
export function faultSide(code: ErrorCode): FaultSide {
  return infoOf(code).side;
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
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
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
