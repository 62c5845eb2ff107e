/**
 * What a failed send means for the item, and what the user is told about it.
 *
 * - permanent: sending again will fail the same way until someone acts (the peer refused, a limit,
 *   a name). The item moves to `.failed/` with a note saying what to do.
 * - changed: the item changed while it was read; it settles again and goes once stable.
 * - transient: anything else may heal by itself (the peer is away, busy, the network broke): the
 *   item is retried by the retry job and at once when the peer comes online.
 */
import { ERROR_CODES, isPermanent, type ErrorCode } from '../errors.js';
import { displayName } from '../store/safe-name.js';

export type FailureClass = 'permanent' | 'changed' | 'transient';

/** Derived from the error table (ERROR_CODES' `permanent`), kept as a set for callers that list them. */
export const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>((Object.keys(ERROR_CODES) as ErrorCode[]).filter(isPermanent));

export function classifyFailure(code: ErrorCode): FailureClass {
  if (isPermanent(code)) return 'permanent';
  if (code === 'SOURCE_CHANGED') return 'changed';
  return 'transient';
}

/** Why an item was given up: a permanent error, or transient ones for longer than giveUpHours. */
export type GiveUpReason = { kind: 'permanent' } | { kind: 'gave-up'; hours: number };

export interface FailureNoteInput {
  readonly when: Date;
  readonly peer: string;
  /** The item's name as it was in the peer folder. */
  readonly name: string;
  readonly kind: 'file' | 'dir';
  readonly bytes: number;
  readonly attempts: number;
  readonly code: string;
  readonly message: string;
  readonly transferId: string | null;
  readonly reason: GiveUpReason;
}

/** The text of `<name>.why.txt` next to an item in `.failed/<peer>/`. */
export function failureNote(raw: FailureNoteInput): string {
  // Local names, but the note is read in terminals and editors: keep control characters out.
  const input = { ...raw, peer: displayName(raw.peer), name: displayName(raw.name), message: displayName(raw.message, 2000) };
  const what = input.kind === 'dir' ? 'folder' : 'file';
  const headline =
    input.reason.kind === 'gave-up'
      ? `p2pd gave up sending the ${what} "${input.name}" to "${input.peer}" after trying for ${input.reason.hours} hour${input.reason.hours === 1 ? '' : 's'}.`
      : `p2pd could not send the ${what} "${input.name}" to "${input.peer}", and trying again will not help.`;
  const lines = [
    headline,
    '',
    `When:      ${input.when.toISOString()}`,
    `To:        ${input.peer}`,
    `Item:      ${input.name} (${what}, ${input.bytes} bytes)`,
    `Attempts:  ${input.attempts}`,
    `Error:     ${input.code}`,
    `Message:   ${input.message}`,
  ];
  if (input.transferId !== null) lines.push(`Transfer:  ${input.transferId}`);
  lines.push('', `What to do: ${advice(input)}`, '');
  return lines.join('\n');
}

function advice(input: FailureNoteInput): string {
  const back = `then move "${input.name}" back into the outbox folder "${input.peer}" and it is sent again.`;
  if (input.reason.kind === 'gave-up') {
    return `the peer could not be reached or kept failing (last error above). Check that "${input.peer}" runs p2pd on this network, ${back}`;
  }
  switch (input.code) {
    case 'PEER_NOT_TRUSTED':
      return `"${input.peer}" accepts files only from peers it trusts. Ask them to trust you (on their machine: p2pd trust <your name>), ${back}`;
    case 'PEER_REFUSED':
      return `"${input.peer}" refused the offer. Ask them why, ${back}`;
    case 'OFFER_TOO_LARGE':
      return `it is larger than "${input.peer}" accepts (its limits on one file's size, the total size or the number of files). Split it into smaller pieces, or ask them to raise their limits, ${back}`;
    case 'OFFER_INVALID':
    case 'NAME_INVALID':
      return `a name in it cannot be used on the receiving side (control characters, "..", names reserved on Windows such as CON or NUL, a trailing dot or space, look-alike slashes). Rename what the message points at, ${back}`;
    case 'SOURCE_UNSUPPORTED':
      return `only regular files and folders can be sent (not symlinks, devices, sockets or pipes). Put a real copy of the data in its place, ${back}`;
    case 'SOURCE_UNREADABLE':
      return `the daemon's user may not read a file in it. Make it readable (chmod, or copy it as the daemon's user), ${back}`;
    case 'PEER_AMBIGUOUS':
      return `several peers are called "${input.peer}". Rename the outbox folder to name#short-id (see p2pd peers) or to the peer's id, ${back}`;
    default:
      return `see the message above, fix its cause, ${back}`;
  }
}
