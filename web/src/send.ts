/** The Send screen: choose a peer, then files (drop, file chooser, folder chooser, or the daemon's own files). */
import { useEffect, useState } from 'preact/hooks';
import { call } from './api.js';
import { bytes } from './format.js';
import { html } from './html.js';
import type { Live, Store } from './state.js';
import { picksFromDrop, picksFromInput, sendPaths, uploadAndSend, type Pick } from './uploads.js';

function PathPicker({ onPick }: { onPick: (paths: string[]) => void }) {
  const [dir, setDir] = useState<any>(null);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [typed, setTyped] = useState('');
  const open = async (path?: string): Promise<void> => {
    try {
      setDir(await call('browse', path === undefined ? {} : { path }));
      setChosen(new Set());
      setError(null);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  useEffect(() => void open(), []);
  if (dir === null) return error ? html`<p class="error" role="alert">${error}</p>` : html`<p>Loading…</p>`;
  const join = (name: string): string => (dir.path.endsWith('/') ? dir.path + name : `${dir.path}/${name}`);
  const toggle = (p: string): void => {
    const next = new Set(chosen);
    if (next.has(p)) next.delete(p);
    else next.add(p);
    setChosen(next);
  };
  return html`<fieldset class="picker">
    <legend>Files this machine already has (nothing is copied)</legend>
    <p><strong class="path">${dir.path}</strong> ${dir.parent !== null && html`<button onClick=${() => open(dir.parent)}>Up</button>`}</p>
    <p>
      <label
        >Go to folder
        <input
          type="text"
          value=${typed}
          placeholder="/home/…"
          onInput=${(e: any) => setTyped(e.currentTarget.value)}
          onKeyDown=${(e: KeyboardEvent) => {
            if (e.key === 'Enter' && typed.startsWith('/')) void open(typed);
          }}
      /></label>
    </p>
    <ul class="entries">
      ${dir.entries.map(
        (e: any) =>
          html`<li key=${e.name}>
            <label
              ><input type="checkbox" checked=${chosen.has(join(e.name))} onChange=${() => toggle(join(e.name))} disabled=${e.kind === 'other'} />
              ${e.kind === 'dir' ? '📁 ' : ''}<span class="name">${e.name}</span> ${e.size !== null && html`<span class="muted">${bytes(e.size)}</span>`}</label
            >
            ${e.kind === 'dir' && html`<button class="small" onClick=${() => open(join(e.name))} aria-label=${`Open folder ${e.name}`}>Open</button>`}
          </li>`,
      )}
    </ul>
    ${dir.truncated > 0 && html`<p class="muted">${dir.truncated} more not shown.</p>`}
    <button class="primary" disabled=${chosen.size === 0} onClick=${() => onPick([...chosen])}>Send ${chosen.size} selected</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </fieldset>`;
}

export function SendScreen({ live, store, peerId, setPeerId }: { live: Live; store: Store; peerId: string | null; setPeerId: (id: string) => void }) {
  const [picks, setPicks] = useState<Pick[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [picker, setPicker] = useState(false);
  const peers = [...store.peers.values()].filter((p) => p.online || p.trusted);
  const peer = peers.find((p) => p.id === peerId) ?? null;
  const go = async (fn: () => Promise<void>): Promise<void> => {
    setError(null);
    setMessage(null);
    try {
      await fn();
      setMessage('Sending: follow it under Progress.');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return html`<div>
    <p>
      <label for="send-peer">Send to </label>
      <select id="send-peer" value=${peerId ?? ''} onChange=${(e: any) => setPeerId(e.currentTarget.value)}>
        <option value="" disabled>choose a peer</option>
        ${peers.map((p) => html`<option key=${p.id} value=${p.id}>${p.displayName}${p.online ? '' : ' (offline)'}</option>`)}
      </select>
    </p>
    <div
      class="dropzone"
      onDragOver=${(e: DragEvent) => e.preventDefault()}
      onDrop=${async (e: DragEvent) => {
        e.preventDefault();
        if (e.dataTransfer) setPicks([...picks, ...(await picksFromDrop(e.dataTransfer))]);
      }}
    >
      <p>Drop files or folders here, or choose them:</p>
      <label class="button"
        >Files… <input type="file" multiple class="hidden-input" onChange=${(e: any) => setPicks([...picks, ...picksFromInput(e.currentTarget.files)])}
      /></label>
      <label class="button"
        >A folder…
        <input type="file" webkitdirectory class="hidden-input" onChange=${(e: any) => setPicks([...picks, ...picksFromInput(e.currentTarget.files)])}
      /></label>
      <button onClick=${() => setPicker(!picker)} aria-expanded=${picker}>Files on this machine…</button>
    </div>
    ${
      picks.length > 0 &&
      html`<ul class="picks">
          ${picks.map((p, i) => html`<li key=${i}><span class="name">${p.path}</span> <span class="muted">${bytes(p.file.size)}</span></li>`)}
        </ul>
        <div class="actions">
          <button
            class="primary"
            disabled=${peer === null}
            onClick=${() =>
              go(async () => {
                const chosen = picks;
                setPicks([]);
                await uploadAndSend(live, peer, chosen);
              })}
          >
            Send ${picks.length} file${picks.length === 1 ? '' : 's'}${peer ? ` to ${peer.displayName}` : ''}
          </button>
          <button onClick=${() => setPicks([])}>Clear</button>
        </div>`
    }
    ${picker && html`<${PathPicker} onPick=${(paths: string[]) => (peer === null ? setError('Choose a peer first.') : go(() => sendPaths(live, peer, paths)))} />`}
    ${message && html`<p role="status">${message}</p>`} ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}
