/** Plain words for numbers and times. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function when(iso: string | null): string {
  if (iso === null) return '';
  const d = new Date(iso);
  return d.toLocaleString();
}

export const STATE_WORDS: Record<string, string> = {
  queued: 'waiting to start',
  connecting: 'connecting',
  waiting: 'waiting for the receiver to accept',
  sending: 'sending',
  receiving: 'receiving',
  verifying: 'verifying',
  retrying: 'will retry',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};
