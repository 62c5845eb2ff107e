/** The Incoming screen: offers waiting for an answer, with where to put them and per-file rename or skip. */
import { useState } from 'preact/hooks';
import { call } from './api.js';
import { bytes, duration } from './format.js';
import { html } from './html.js';
import type { Store } from './state.js';

interface Entry {
  index: number;
  name: string;
  kind: 'file' | 'dir';
  size: number;
  cleaned?: boolean;
}

function OfferCard({ offer }: { offer: any }) {
  const [to, setTo] = useState('');
  const [renames, setRenames] = useState<Record<number, string>>({});
  const [skips, setSkips] = useState<Record<number, boolean>>({});
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The indexes `accept` takes come with the entries; names alone (an older daemon) are in order.
  const entries: Entry[] = offer.entries ?? offer.names.map((name: string, index: number) => ({ index, name, kind: 'file', size: NaN }));
  const answer = async (accept: boolean): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      if (!accept) await call('reject', { id: offer.id });
      else {
        const files = entries
          .map(({ index }) => ({ index, rename: renames[index]?.trim() || undefined, skip: skips[index] || undefined }))
          .filter((f: any) => f.rename !== undefined || f.skip !== undefined);
        await call('accept', { id: offer.id, ...(to.trim() ? { to: to.trim() } : {}), ...(files.length ? { files } : {}) });
      }
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const left = (Date.parse(offer.expiresAt) - Date.now()) / 1000;
  const shown = entries.filter((e) => e.kind === 'file').length;
  return html`<article class="card offer" data-offer=${offer.id} aria-label=${`Offer from ${offer.peer.name}`}>
    <h3>
      <span class="name">${offer.peer.name}</span>
      <span class="muted">#${offer.peer.id.slice(0, 7)}</span>
      ${offer.peer.trusted ? html`<span class="badge ok">trusted</span>` : html`<span class="badge">not trusted</span>`}
    </h3>
    <p>wants to send <strong>${offer.files} file${offer.files === 1 ? '' : 's'}</strong> (${bytes(offer.bytes)}). Expires in ${duration(left)}.</p>
    <ul class="names">
      ${entries.map(
        (e) =>
          html`<li key=${e.index} data-entry=${e.index}>
            <span class="muted small">${e.index}</span>
            <span class="name">${e.name}${e.kind === 'dir' ? '/' : ''}</span>
            ${e.kind === 'file' && Number.isFinite(e.size) && html`<span class="muted small">${bytes(e.size)}</span>`}
            ${e.cleaned === true && html`<span class="badge" title="an unsafe character was replaced or a reserved name changed">name cleaned</span>`}
            ${
              more &&
              e.kind === 'file' &&
              html`<span class="file-options">
                <label
                  >Save as
                  <input
                    type="text"
                    value=${renames[e.index] ?? ''}
                    placeholder=${e.name.split('/').pop()}
                    onInput=${(ev: any) => setRenames({ ...renames, [e.index]: ev.currentTarget.value })}
                /></label>
                <label
                  ><input
                    type="checkbox"
                    checked=${skips[e.index] === true}
                    onChange=${(ev: any) => setSkips({ ...skips, [e.index]: ev.currentTarget.checked })}
                  />
                  Skip</label
                >
              </span>`
            }
          </li>`,
      )}
    </ul>
    ${offer.files > shown && html`<p class="muted">… and ${offer.files - shown} more files.</p>`}
    ${
      (offer.refused ?? []).length > 0 &&
      html`<div class="error">
        <p>Refused alone (the other files can still land):</p>
        <ul>
          ${offer.refused.map((r: any) => html`<li key=${r.index}><span class="name">${r.name}</span>: ${r.message}</li>`)}
        </ul>
      </div>`
    }
    ${
      more &&
      html`<p>
        <label
          >Into folder (inside the inbox) <input type="text" value=${to} onInput=${(e: any) => setTo(e.currentTarget.value)} placeholder="e.g. photos/2026"
        /></label>
      </p>`
    }
    <div class="actions">
      <button class="primary" disabled=${busy} onClick=${() => answer(true)}>Accept</button>
      <button disabled=${busy} onClick=${() => answer(false)}>Reject</button>
      <button aria-expanded=${more} onClick=${() => setMore(!more)}>${more ? 'Fewer options' : 'Folder, rename, skip…'}</button>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </article>`;
}

export function OffersScreen({ store }: { store: Store }) {
  const offers = [...store.offers.values()];
  if (offers.length === 0) return html`<p class="empty">No offers are waiting. Offers from peers that must be asked appear here at once.</p>`;
  return html`<div class="grid wide">${offers.map((o) => html`<${OfferCard} key=${o.id} offer=${o} />`)}</div>`;
}
