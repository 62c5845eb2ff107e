/**
 * The page's end of the dashboard API: the login (trading the one-time token in the address's
 * fragment for a session kept in sessionStorage), method calls, server-sent events read with
 * fetch (EventSource cannot send the Authorization header), and uploads.
 */
const KEY = 'p2pd-session';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function session(): string | null {
  return sessionStorage.getItem(KEY);
}

/** Trades `#token=…` for a session, and removes the token from the address bar and history. */
export async function loginFromFragment(): Promise<boolean> {
  const m = /[#&]token=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m === null) return session() !== null;
  history.replaceState(null, '', location.pathname);
  const r = (await call('ui-login', { token: m[1] }, false)) as { session: string };
  sessionStorage.setItem(KEY, r.session);
  return true;
}

export function logout(): void {
  sessionStorage.removeItem(KEY);
}

function headers(extra: Record<string, string> = {}, auth = true): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const s = session();
  if (auth && s !== null) h.Authorization = `Bearer ${s}`;
  return h;
}

async function failure(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } };
    if (body.error) return new ApiError(body.error.code, body.error.message);
  } catch {
    // not JSON
  }
  return new ApiError('HTTP_' + res.status, `the daemon answered ${res.status}`);
}

export async function call<T = unknown>(method: string, params: object = {}, auth = true): Promise<T> {
  const res = await fetch(`/api/${encodeURIComponent(method)}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }, auth),
    body: JSON.stringify(params),
  });
  if (!res.ok) throw await failure(res);
  const body = (await res.json()) as { result?: T; error?: { code: string; message: string } };
  if (body.error) throw new ApiError(body.error.code, body.error.message);
  return body.result as T;
}

/** Calls a streaming method; `onEvent` sees each event; resolves with the `result` event. */
export async function stream<T = unknown>(method: string, params: object, onEvent: (event: string, data: any) => void, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/api/${encodeURIComponent(method)}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
    body: JSON.stringify(params),
    ...(signal ? { signal } : {}),
  });
  if (!res.ok) throw await failure(res);
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const body = (await res.json()) as { result: T };
    return body.result;
  }
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ApiError('CONNECTION_LOST', 'the daemon closed the event stream');
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      const parsed = data === '' ? null : JSON.parse(data);
      if (event === 'result') return parsed as T;
      if (event === 'error') throw new ApiError(parsed.code, parsed.message);
      onEvent(event, parsed);
    }
  }
}

export async function newBatch(): Promise<string> {
  const res = await fetch('/upload', { method: 'POST', headers: headers() });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { batch: string }).batch;
}

/** One file as a raw PUT; XMLHttpRequest because fetch reports no upload progress. */
export function uploadFile(batch: string, path: string, file: Blob, onProgress: (sent: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const url = `/upload/${batch}/${path.split('/').map(encodeURIComponent).join('/')}`;
    xhr.open('PUT', url);
    const s = session();
    if (s !== null) xhr.setRequestHeader('Authorization', `Bearer ${s}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      if (xhr.status === 200) resolve();
      else {
        try {
          const body = JSON.parse(xhr.responseText) as { error: { code: string; message: string } };
          reject(new ApiError(body.error.code, body.error.message));
        } catch {
          reject(new ApiError('HTTP_' + xhr.status, `upload refused (${xhr.status})`));
        }
      }
    };
    xhr.onerror = () => reject(new ApiError('CONNECTION_LOST', 'the upload broke off'));
    xhr.send(file);
  });
}

export async function sendBatch(batch: string, peer: string): Promise<any> {
  const res = await fetch(`/upload/${batch}`, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ peer }),
  });
  if (!res.ok) throw await failure(res);
  return ((await res.json()) as { result: unknown }).result;
}
