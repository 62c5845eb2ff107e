/** The Incoming screen: offers waiting for an answer, with where to put them and per-file rename or skip. */
import { useState } from 'preact/hooks';
import { call } from './api.js';
import { bytes, duration } from './format.js';
import { html } from './html.js';
import type { Store } from './state.js';

function OfferCard({ offer }: { offer: any }) {
  const [to, setTo] = useState('');
  const [renames, setRenames] = useState<Record<number, string>>({});
  const [skips, setSkips] = useState<Record<number, boolean>>({});
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const answer = async (accept: boolean): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      if (!accept) await call('reject', { id: offer.id });
      else {
        const files = offer.names
          .map((_: string, index: number) => ({ index, rename: renames[index]?.trim() || undefined, skip: skips[index] || undefined }))
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
  return html`<article class="card offer" data-offer=${offer.id} aria-label=${`Offer from ${offer.peer.name}`}>
    <h3>
      <span class="name">${offer.peer.name}</span>
      <span class="muted">#${offer.peer.id.slice(0, 7)}</span>
      ${offer.peer.trusted ? html`<span class="badge ok">trusted</span>` : html`<span class="badge">not trusted</span>`}
    </h3>
    <p>wants to send <strong>${offer.files} file${offer.files === 1 ? '' : 's'}</strong> (${bytes(offer.bytes)}). Expires in ${duration(left)}.</p>
    <ol class="names" start="0">
      ${offer.names.map(
        (n: string, i: number) =>
          html`<li key=${i}>
            <span class="name">${n}</span>
            ${
              more &&
              html`<span class="file-options">
                <label
                  >Save as
                  <input type="text" value=${renames[i] ?? ''} placeholder=${n} onInput=${(e: any) => setRenames({ ...renames, [i]: e.currentTarget.value })}
                /></label>
                <label
                  ><input type="checkbox" checked=${skips[i] === true} onChange=${(e: any) => setSkips({ ...skips, [i]: e.currentTarget.checked })} />
                  Skip</label
                >
              </span>`
            }
          </li>`,
      )}
    </ol>
    ${offer.files > offer.names.length && html`<p class="muted">… and ${offer.files - offer.names.length} more.</p>`}
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
  return html`<div class="grid">${offers.map((o) => html`<${OfferCard} key=${o.id} offer=${o} />`)}</div>`;
}
