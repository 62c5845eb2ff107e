/** The Progress screen: uploads from this page, transfers both ways, history, and the outbox. */
import { useState } from 'preact/hooks';
import { call } from './api.js';
import { STATE_WORDS, bytes, duration, when } from './format.js';
import { html } from './html.js';
import type { Store } from './state.js';
import { retries, uploads } from './uploads.js';

function Bar({ done, total, label }: { done: number; total: number; label: string }) {
  return html`<progress max=${Math.max(total, 1)} value=${Math.min(done, total)} aria-label=${label}></progress>`;
}

function TransferRow({ t }: { t: any }) {
  const [error, setError] = useState<string | null>(null);
  const ended = t.endedAt !== null;
  const eta = t.bytesPerSecond > 0 ? (t.bytesTotal - t.bytesDone) / t.bytesPerSecond : NaN;
  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const retry = retries.get(t.id);
  const label = `${t.direction === 'out' ? 'To' : 'From'} ${t.peer.name}`;
  return html`<li class=${`transfer ${t.state}`} data-transfer=${t.id}>
    <div>
      <strong>${t.direction === 'out' ? '↑ to ' : '↓ from '}<span class="name">${t.peer.name}</span></strong
      >${' — '}<span class="state">${STATE_WORDS[t.state] ?? t.state}</span>
    </div>
    <${Bar} done=${t.bytesDone} total=${t.bytesTotal} label=${`${label}: overall progress`} />
    <div class="muted small">
      ${bytes(t.bytesDone)} of ${bytes(t.bytesTotal)} · file ${Math.min(t.filesDone + t.filesFailed + (ended ? 0 : 1), t.filesTotal)} of ${t.filesTotal}
      ${!ended && t.bytesPerSecond > 0 && html` · ${bytes(t.bytesPerSecond)}/s · ${duration(eta)} left`}
      ${t.state === 'retrying' && t.nextAttemptAt && html` · next try ${when(t.nextAttemptAt)}`} ${ended && html` · ${when(t.endedAt)}`}
    </div>
    ${
      !ended &&
      t.current &&
      html`<div class="current small">
        <span class="name">${t.current.path}</span>
        <${Bar} done=${t.current.bytesDone} total=${t.current.bytes} label=${`${label}: progress of ${t.current.path}`} />
        <span class="muted">${bytes(t.current.bytesDone)} of ${bytes(t.current.bytes)}</span>
      </div>`
    }
    ${t.error && html`<p class="error">${t.error.message} <span class="muted">(${t.error.code})</span></p>`}
    ${
      t.filesDeclined > 0
        ? html`<p class="warning">
            ${t.filesDeclined} file${t.filesDeclined === 1 ? ' was' : 's were'} declined by the receiver; the others arrived verified.
          </p>`
        : t.filesFailed > 0 && html`<p class="error">${t.filesFailed} file${t.filesFailed === 1 ? '' : 's'} did not arrive.</p>`
    }
    <div class="actions">
      ${!ended && html`<button onClick=${() => act(() => call('cancel', { id: t.id }))} aria-label=${`Cancel transfer ${label}`}>Cancel</button>`}
      ${ended && t.state !== 'done' && retry && html`<button onClick=${() => act(retry)} aria-label=${`Retry transfer ${label}`}>Retry</button>`}
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </li>`;
}

export function ProgressScreen({ store }: { store: Store }) {
  const all = [...store.transfers.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  const running = all.filter((t) => t.endedAt === null);
  const history = all.filter((t) => t.endedAt !== null);
  const ups = [...uploads.values()].filter((u) => u.state !== 'sent').reverse();
  return html`<div>
    ${
      ups.length > 0 &&
      html`<section aria-label="Uploads">
        <h2>Uploading to the daemon</h2>
        <ul class="list">
          ${ups.map(
            (u) =>
              html`<li key=${u.id}>
                <span class="name">${u.label}</span> → <span class="name">${u.peer}</span>
                <${Bar} done=${u.sent} total=${u.total} label=${`Upload of ${u.label}`} />
                <span class="muted small">${bytes(u.sent)} of ${bytes(u.total)}</span> ${u.error && html`<p class="error">${u.error}</p>`}
              </li>`,
          )}
        </ul>
      </section>`
    }
    <section aria-label="Running transfers">
      <h2>Running</h2>
      ${
        running.length === 0
          ? html`<p class="empty">Nothing is being sent or received.</p>`
          : html`<ul class="list">
              ${running.map((t) => html`<${TransferRow} key=${t.id} t=${t} />`)}
            </ul>`
      }
    </section>
    <section aria-label="History">
      <h2>History</h2>
      ${
        history.length === 0
          ? html`<p class="empty">No finished transfers yet.</p>`
          : html`<ul class="list">
              ${history.map((t) => html`<${TransferRow} key=${t.id} t=${t} />`)}
            </ul>`
      }
    </section>
    <section aria-label="Outbox">
      <h2>Outbox</h2>
      ${
        store.outbox.size === 0
          ? html`<p class="empty">The outbox is empty.</p>`
          : html`<ul class="list">
              ${[...store.outbox.values()].map(
                (i: any) =>
                  html`<li key=${i.path}>
                    <span class="name">${i.path}</span> — ${i.state}${i.attempts > 0 ? `, ${i.attempts} attempts` : ''}
                    <span class="muted">${bytes(i.bytes)}</span> ${i.lastError && html`<p class="error">${i.lastError.message}</p>`}
                  </li>`,
              )}
            </ul>`
      }
    </section>
  </div>`;
}
