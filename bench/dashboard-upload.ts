/**
 * How much memory a dashboard upload costs the daemon: one daemon (discovery off, everything in a
 * temp dir), one raw PUT of SIZE bytes (default 1 GiB) into its staging area, the daemon's
 * resident memory sampled every 100 ms and its high-water mark read from /proc at the end.
 * A streamed upload keeps it flat; a buffered one would grow by the file's size.
 *   npm run bench:upload [-- <bytes>]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const SIZE = Number(process.argv[2] ?? 1024 ** 3);

async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]) / 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

function call(port: number, method: string, path: string, headers: Record<string, string>, body: (req: ReturnType<typeof request>) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    body(req);
  });
}

const dir = await mkdtemp(join(tmpdir(), 'p2pd-upload-'));
const config = join(dir, 'config.json');
await mkdir(join(dir, 'state'), { mode: 0o700 });
await writeFile(
  config,
  JSON.stringify({
    name: 'bench',
    port: 0,
    inbox: './inbox',
    outbox: './outbox',
    stateDir: './state',
    logLevel: 'warn',
    discovery: { enabled: false },
    dashboard: { port: 0 },
    limits: { minFreeSpace: 0 },
  }),
);
const daemon = spawn(process.execPath, ['--max-semi-space-size=1', MAIN, 'daemon', '--config', config], { stdio: 'ignore' });
try {
  let ui: { origin: string; token: string } | undefined;
  for (let i = 0; i < 100 && ui === undefined; i++) {
    await new Promise((r) => setTimeout(r, 300));
    try {
      ui = JSON.parse(execFileSync(process.execPath, [MAIN, 'ui', '--json', '--config', config], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
    } catch {
      // not ready yet
    }
  }
  if (ui === undefined) throw new Error('the daemon did not start');
  const port = Number(new URL(ui.origin).port);
  const json = { 'Content-Type': 'application/json' };
  const { session } = JSON.parse(await call(port, 'POST', '/api/ui-login', json, (r) => r.end(JSON.stringify({ token: ui!.token })))).result;
  const auth = { Authorization: `Bearer ${session}` };
  const { batch } = JSON.parse(await call(port, 'POST', '/upload', auth, (r) => r.end()));
  const before = await memory(daemon.pid!);
  let peak = before.rss;
  const timer = setInterval(() => void memory(daemon.pid!).then((m) => (peak = Math.max(peak, m.rss))), 100);
  const chunk = Buffer.alloc(1 << 20, 7);
  const started = Date.now();
  await call(port, 'PUT', `/upload/${batch}/big.bin`, { ...auth, 'Content-Length': String(SIZE) }, (req) => {
    let sent = 0;
    const pump = (): void => {
      while (sent < SIZE) {
        const n = Math.min(chunk.length, SIZE - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  clearInterval(timer);
  const seconds = (Date.now() - started) / 1000;
  const after = await memory(daemon.pid!);
  console.log(
    `uploaded ${(SIZE / 1024 ** 2).toFixed(0)} MiB in ${seconds.toFixed(1)} s; daemon RSS ${before.rss.toFixed(0)} MiB before, ` +
      `${Math.max(peak, after.rss).toFixed(0)} MiB at most while uploading (high-water mark ${after.hwm.toFixed(0)} MiB)`,
  );
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  await rm(dir, { recursive: true, force: true });
}
