/** The inbox's errors: file-system failures mapped to the store's stable codes. */
import { P2pdError, isAbortError, toP2pdError } from '../errors.js';

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Maps a file-system error to the store's codes; P2pdErrors and aborts pass through. */
export function storeError(err: unknown, what: string): P2pdError {
  if (err instanceof P2pdError || isAbortError(err)) return toP2pdError(err);
  const code = errnoOf(err);
  switch (code) {
    case undefined:
      return toP2pdError(err);
    case 'ENOSPC':
    case 'EDQUOT':
      return new P2pdError('DISK_FULL', `no space left in the inbox while ${what}`, { cause: err, details: { errno: code } });
    case 'ENAMETOOLONG':
    case 'EILSEQ':
      return new P2pdError('NAME_INVALID', `the inbox's file system refuses the name while ${what} (${code})`, {
        cause: err,
        details: { reason: 'refused-by-file-system', errno: code },
      });
    default:
      return new P2pdError('INBOX_UNWRITABLE', `cannot write in the inbox while ${what} (${code}); check that it exists and that the daemon's user owns it`, {
        cause: err,
        details: { errno: code },
      });
  }
}

export function nameError(reason: string, message: string): P2pdError {
  return new P2pdError('NAME_INVALID', message, { details: { reason } });
}
