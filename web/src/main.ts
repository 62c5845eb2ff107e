/** The dashboard page: login, the live store, and the five screens. */
import { render } from 'preact';
import { useLayoutEffect, useState } from 'preact/hooks';
import { loginFromFragment } from './api.js';
import { html } from './html.js';
import { OffersScreen } from './offers.js';
import { PeersScreen } from './peers.js';
import { ProgressScreen } from './progress.js';
import { SendScreen } from './send.js';
import { SettingsScreen } from './settings.js';
import { Live, type Store } from './state.js';

const SCREENS = [
  ['peers', 'Peers'],
  ['send', 'Send'],
  ['incoming', 'Incoming'],
  ['progress', 'Progress'],
  ['settings', 'Settings'],
] as const;
type Screen = (typeof SCREENS)[number][0];

const live = new Live();

function notifyArrival(what: string): void {
  if (document.visibilityState === 'visible' || !('Notification' in window) || Notification.permission !== 'granted') return;
  new Notification('p2pd', { body: what });
}
live.onArrival = notifyArrival;

function useStore(): Store {
  const [, setTick] = useState(0);
  const rendered = live.version;
  // Preact subscribes after the first paint; the snapshot can arrive and be rendered to no one
  // in between, and a quiet LAN may send nothing more. Catch up on what came in that gap.
  useLayoutEffect(() => {
    const unsubscribe = live.subscribe(() => setTick((n) => n + 1));
    if (live.version !== rendered) setTick((n) => n + 1);
    return unsubscribe;
  }, []);
  return live.store;
}

function waiting(store: Store): number {
  return store.offers.size + [...store.pairings.values()].filter((p) => p.state === 'confirm').length;
}

function App({ login }: { login: string | null }) {
  const store = useStore();
  const [screen, setScreen] = useState<Screen>('peers');
  const [sendTo, setSendTo] = useState<string | null>(null);
  const [notifyOn, setNotifyOn] = useState(typeof Notification !== 'undefined' && Notification.permission === 'granted');
  const count = waiting(store);
  // In the same commit as the lists, not after the next paint: a hidden or headless page may not
  // paint for a while, and the title must not show offers that are gone.
  useLayoutEffect(() => {
    document.title = count > 0 ? `(${count}) p2pd` : 'p2pd';
  }, [count]);
  const problem = login ?? store.unauthorized;
  if (problem !== null) {
    return html`<main class="login">
      <h1>p2pd</h1>
      <p role="alert">${problem}</p>
      <p>Run <code>p2pd ui --open</code> on this machine to open the dashboard with a fresh login.</p>
    </main>`;
  }
  return html`<div class="app">
    <header>
      <h1>p2pd</h1>
      <nav aria-label="Screens">
        ${SCREENS.map(
          ([id, words]) =>
            html`<button key=${id} class="tab" aria-current=${screen === id ? 'page' : undefined} onClick=${() => setScreen(id)}>
              ${words}${id === 'incoming' && count > 0 ? html` <span class="count" aria-label=${`${count} waiting`}>${count}</span>` : ''}
            </button>`,
        )}
      </nav>
      <span class=${`dot ${store.connected ? 'ok' : ''}`} role="status" aria-label=${store.connected ? 'connected' : 'connecting'}></span>
    </header>
    <main>
      <h2 class="screen-title">${SCREENS.find(([id]) => id === screen)![1]}</h2>
      ${
        screen === 'peers' &&
        html`<${PeersScreen}
          live=${live}
          store=${store}
          onSend=${(p: any) => {
            setSendTo(p.id);
            setScreen('send');
          }}
        />`
      }
      ${screen === 'send' && html`<${SendScreen} live=${live} store=${store} peerId=${sendTo} setPeerId=${setSendTo} />`}
      ${screen === 'incoming' && html`<${OffersScreen} store=${store} />`} ${screen === 'progress' && html`<${ProgressScreen} store=${store} />`}
      ${
        screen === 'settings' &&
        html`<${SettingsScreen}
          notify=${{
            enabled: notifyOn,
            enable: () => void Notification.requestPermission().then((p) => setNotifyOn(p === 'granted')),
          }}
        />`
      }
    </main>
  </div>`;
}

async function start(): Promise<void> {
  const root = document.getElementById('app')!;
  let problem: string | null = null;
  try {
    if (!(await loginFromFragment())) problem = 'You are not logged in.';
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem === null) void live.run(new AbortController().signal);
  render(html`<${App} login=${problem} />`, root);
}

void start();
