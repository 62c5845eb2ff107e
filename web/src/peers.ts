/** The Peers screen: who is there, trust, pairing by code, and dropping files on a peer. */
import { useState } from 'preact/hooks';
import { call, stream } from './api.js';
import { html } from './html.js';
import type { Live, Store } from './state.js';
import { picksFromDrop, uploadAndSend } from './uploads.js';

function PairingPanel({ live, store }: { live: Live; store: Store }) {
  const pairings = [...store.pairings.values()];
  if (pairings.length === 0) return null;
  return html`<section class="pairings" aria-label="Pairings">
    ${pairings.map((p: any) => html`<${PairingCard} key=${p.id} live=${live} pairing=${p} />`)}
  </section>`;
}

function PairingCard({ pairing: p }: { live: Live; pairing: any }) {
  const [error, setError] = useState<string | null>(null);
  const answer = async (ok: boolean): Promise<void> => {
    try {
      await call('pair-answer', { id: p.id, ok });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return html`<article class="card pairing" data-pairing=${p.id}>
    <h3>Pairing ${p.direction === 'out' ? 'with' : 'requested by'} <span class="name">${p.peer.name}</span></h3>
    ${
      p.code === null
        ? html`<p>Connecting…</p>`
        : html`<p class="code" aria-label=${`Verification code ${p.code.split('').join(' ')}`}>${p.code}</p>
            <p>
              Look at the screen of <span class="name">${p.peer.name}</span>: it shows a code too. Only if it is exactly this one, press “Codes match”. If it
              differs, someone may be in between: press “Reject”.
            </p>`
    }
    ${
      p.state === 'confirm'
        ? html`<div class="actions">
            <button class="primary" onClick=${() => answer(true)}>Codes match</button>
            <button onClick=${() => answer(false)}>Reject</button>
          </div>`
        : p.state === 'waiting-peer'
          ? html`<p role="status">Confirmed here; waiting for the other side to confirm.</p>`
          : null
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </article>`;
}

function PeerCard({ live, peer, onSend }: { live: Live; peer: any; onSend: (peer: any) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [over, setOver] = useState(false);
  const act = async (fn: () => Promise<unknown>): Promise<void> => {
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const pair = (): Promise<void> => act(() => stream('pair', { peer: peer.id }, () => live.changed()));
  const onDrop = async (e: DragEvent): Promise<void> => {
    e.preventDefault();
    setOver(false);
    if (e.dataTransfer === null) return;
    const picks = await picksFromDrop(e.dataTransfer);
    await act(() => uploadAndSend(live, peer, picks));
  };
  const status = peer.impersonates
    ? html`<span class="badge danger">Warning: claims to be “${peer.impersonates}” but is not the trusted one</span>`
    : peer.trusted
      ? html`<span class="badge ok">trusted</span>`
      : html`<span class="badge">unknown</span>`;
  return html`<article
    class=${`card peer${over ? ' over' : ''}`}
    data-peer=${peer.name}
    aria-label=${`Peer ${peer.displayName}`}
    onDragOver=${(e: DragEvent) => {
      e.preventDefault();
      setOver(true);
    }}
    onDragLeave=${() => setOver(false)}
    onDrop=${onDrop}
  >
    <h3><span class="name">${peer.displayName}</span> <span class="muted">#${peer.shortId}</span></h3>
    <p>${status} <span class=${`badge ${peer.online ? 'ok' : ''}`}>${peer.online ? 'online' : 'offline'}</span></p>
    ${peer.addresses.length > 0 && html`<p class="muted small">${peer.addresses.join(', ')}</p>`}
    <p class="muted small">Drop files or folders here to send them.</p>
    <div class="actions">
      <button class="primary" onClick=${() => onSend(peer)} aria-label=${`Send files to ${peer.displayName}`}>Send files…</button>
      ${
        peer.trusted
          ? html`<button onClick=${() => act(() => call('untrust', { peer: peer.id }))}>Untrust</button>`
          : html`<button onClick=${() => act(() => call('trust', { peer: peer.id }))}>Trust</button>
              <button onClick=${pair} aria-label=${`Pair with ${peer.displayName} by code`}>Pair</button>`
      }
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </article>`;
}

export function PeersScreen({ live, store, onSend }: { live: Live; store: Store; onSend: (peer: any) => void }) {
  const peers = [...store.peers.values()].sort((a, b) => Number(b.online) - Number(a.online) || a.displayName.localeCompare(b.displayName));
  return html`<div>
    <${PairingPanel} live=${live} store=${store} />
    ${
      peers.length === 0
        ? html`<p class="empty">No peers yet. Other machines running p2pd on this network appear here by themselves.</p>`
        : html`<div class="grid">${peers.map((p) => html`<${PeerCard} key=${p.id} live=${live} peer=${p} onSend=${onSend} />`)}</div>`
    }
  </div>`;
}
