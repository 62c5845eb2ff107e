/** The Settings screen: the effective config, and the keys a running daemon can change. */
import { useEffect, useState } from 'preact/hooks';
import { call } from './api.js';
import { html } from './html.js';

const LIMIT_WORDS: Record<string, string> = {
  maxOfferFiles: 'Most files in one offer',
  maxOfferBytes: 'Largest offer in bytes (0 = no limit)',
  maxConcurrentIncoming: 'Incoming transfers at once',
  handshakeTimeoutSeconds: 'Handshake timeout (seconds)',
  idleTimeoutSeconds: 'Idle timeout (seconds)',
  minFreeSpace: 'Bytes to keep free in the inbox',
};

export function SettingsScreen({ notify }: { notify: { enabled: boolean; enable: () => void } }) {
  const [view, setView] = useState<any>(null);
  const [draft, setDraft] = useState<any>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async (): Promise<void> => {
    const v = await call<any>('settings');
    setView(v);
    setDraft({
      accept: v.config.accept,
      askTimeoutSeconds: v.config.askTimeoutSeconds,
      overrides: Object.entries(v.config.acceptOverrides),
      limits: Object.fromEntries(Object.keys(LIMIT_WORDS).map((k) => [k, v.config.limits[k]])),
    });
  };
  useEffect(() => void load().catch((e) => setError((e as Error).message)), []);
  if (draft === null) return error ? html`<p class="error" role="alert">${error}</p>` : html`<p>Loading…</p>`;
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setMessage(null);
    try {
      const limits = Object.fromEntries(Object.entries(draft.limits).map(([k, v]) => [k, Number(v)]));
      await call('settings-set', {
        changes: {
          accept: draft.accept,
          askTimeoutSeconds: Number(draft.askTimeoutSeconds),
          acceptOverrides: Object.fromEntries(draft.overrides.filter(([k]: [string]) => k.trim() !== '').map(([k, v]: [string, string]) => [k.trim(), v])),
          limits,
        },
      });
      await load();
      setMessage(`Saved to ${view.file} and applied.`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const set = (patch: object): void => setDraft({ ...draft, ...patch });
  // The daemon checks values exactly as at start and says what is wrong; no second set of rules here.
  return html`<form onSubmit=${save} class="settings" novalidate>
    <fieldset>
      <legend>Who may send files here</legend>
      ${[
        ['ask', 'Ask me (trusted peers send at once)'],
        ['trusted', 'Trusted peers only'],
        ['all', 'Everyone'],
      ].map(
        ([v, words]) =>
          html`<label class="radio"
            ><input type="radio" name="accept" value=${v} checked=${draft.accept === v} onChange=${() => set({ accept: v })} /> ${words}</label
          >`,
      )}
      <label
        >Seconds an offer waits for an answer
        <input type="number" min="5" max="86400" value=${draft.askTimeoutSeconds} onInput=${(e: any) => set({ askTimeoutSeconds: e.currentTarget.value })}
      /></label>
    </fieldset>
    <fieldset>
      <legend>Per-peer exceptions</legend>
      ${draft.overrides.map(
        ([k, v]: [string, string], i: number) =>
          html`<div class="row" key=${i}>
            <label
              >Peer (id or trusted name)
              <input
                type="text"
                value=${k}
                onInput=${(e: any) => set({ overrides: draft.overrides.map((o: any, j: number) => (j === i ? [e.currentTarget.value, o[1]] : o)) })}
            /></label>
            <label
              >Offers
              <select
                value=${v}
                onChange=${(e: any) => set({ overrides: draft.overrides.map((o: any, j: number) => (j === i ? [o[0], e.currentTarget.value] : o)) })}
              >
                <option value="auto">land at once</option>
                <option value="ask">ask me</option>
                <option value="deny">refuse</option>
              </select></label
            >
            <button type="button" onClick=${() => set({ overrides: draft.overrides.filter((_: unknown, j: number) => j !== i) })}>Remove</button>
          </div>`,
      )}
      <button type="button" onClick=${() => set({ overrides: [...draft.overrides, ['', 'ask']] })}>Add an exception</button>
    </fieldset>
    <fieldset>
      <legend>Limits</legend>
      ${Object.entries(LIMIT_WORDS).map(
        ([k, words]) =>
          html`<label
            >${words}
            <input
              type="number"
              min="0"
              name=${k}
              value=${draft.limits[k]}
              onInput=${(e: any) => set({ limits: { ...draft.limits, [k]: e.currentTarget.value } })}
          /></label>`,
      )}
    </fieldset>
    <div class="actions">
      <button class="primary" type="submit">Save</button>
      ${!notify.enabled && html`<button type="button" onClick=${notify.enable}>Notify me of offers</button>`}
    </div>
    ${message && html`<p role="status">${message}</p>`} ${error && html`<p class="error" role="alert">${error}</p>`}
    <details>
      <summary>Everything in effect (${view.file ?? 'defaults, no config file'})</summary>
      <pre>${JSON.stringify(view.config, null, 2)}</pre>
    </details>
  </form>`;
}
