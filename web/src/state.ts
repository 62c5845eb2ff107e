/** What the page knows, kept current by the `watch` stream (resumed from its last seq). */
import { ApiError, stream } from './api.js';

export interface Store {
  peers: Map<string, any>;
  transfers: Map<string, any>;
  offers: Map<string, any>;
  pairings: Map<string, any>;
  outbox: Map<string, any>;
  connected: boolean;
  /** Set when the session is refused: the page shows the login hint. */
  unauthorized: string | null;
}

type Listener = (store: Store) => void;

export class Live {
  readonly store: Store = {
    peers: new Map(),
    transfers: new Map(),
    offers: new Map(),
    pairings: new Map(),
    outbox: new Map(),
    connected: false,
    unauthorized: null,
  };
  readonly #listeners = new Set<Listener>();
  #since: number | undefined;
  #epoch: string | undefined;
  #scheduled = false;
  #version = 0;
  /** Called with each new offer or pairing waiting for this side (for notifications). */
  onArrival: (what: string) => void = () => undefined;

  /** Counts changes, so a view that subscribes after its first render can tell it missed one. */
  get version(): number {
    return this.#version;
  }

  subscribe(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  changed(): void {
    this.#version++;
    if (this.#scheduled) return;
    this.#scheduled = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const render = (): void => {
      if (!this.#scheduled) return;
      this.#scheduled = false;
      clearTimeout(timer);
      for (const l of this.#listeners) l(this.store);
    };
    // Progress events come in bursts: one render per frame is enough. A browser pauses animation
    // frames in a hidden tab, where the title must still count new offers: a timer renders then.
    timer = setTimeout(render, 150);
    if (document.visibilityState !== 'hidden') requestAnimationFrame(render);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const params = this.#since === undefined ? {} : { since: this.#since, epoch: this.#epoch };
        await stream('watch', params, (event, data) => this.apply(event, data), signal);
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'CONTROL_UNAUTHORIZED' || err.code === 'HTTP_401' || err.code === 'HTTP_403')) {
          this.store.unauthorized = err.message;
          this.store.connected = false;
          this.changed();
          return;
        }
      }
      this.store.connected = false;
      this.changed();
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  apply(event: string, data: any): void {
    const s = this.store;
    s.connected = true;
    if (typeof data?.seq === 'number') this.#since = data.seq;
    switch (event) {
      case 'snapshot':
        this.#epoch = data.epoch;
        s.peers = new Map(data.peers.map((p: any) => [p.id, p]));
        s.transfers = new Map(data.transfers.map((t: any) => [t.id, t]));
        s.offers = new Map(data.offers.map((o: any) => [o.id, o]));
        s.pairings = new Map(data.pairings.map((p: any) => [p.id, p]));
        s.outbox = new Map(data.outbox.map((i: any) => [i.path, i]));
        break;
      case 'peer':
        s.peers.set(data.peer.id, data.peer);
        break;
      case 'peer-gone':
        s.peers.delete(data.id);
        break;
      case 'transfer':
      case 'transfer-end':
        s.transfers.set(data.transfer.id, { ...s.transfers.get(data.transfer.id), ...data.transfer });
        break;
      case 'offer':
        if (!s.offers.has(data.offer.id)) this.onArrival(`Files offered by ${data.offer.peer.name}`);
        s.offers.set(data.offer.id, data.offer);
        break;
      case 'offer-end':
        s.offers.delete(data.id);
        break;
      case 'pairing':
        if (data.pairing.state === 'confirm' && s.pairings.get(data.pairing.id)?.state !== 'confirm') {
          this.onArrival(`Pairing with ${data.pairing.peer.name}: compare the code`);
        }
        s.pairings.set(data.pairing.id, data.pairing);
        break;
      case 'pairing-end':
        s.pairings.delete(data.id);
        break;
      case 'outbox-item':
        s.outbox.set(data.item.path, data.item);
        break;
      case 'outbox-item-gone':
        s.outbox.delete(data.path);
        break;
      default:
        break;
    }
    this.changed();
  }
}
