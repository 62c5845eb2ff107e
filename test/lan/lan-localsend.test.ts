/**
 * LocalSend interop on a simulated LAN (network namespaces on a bridge): a p2pd daemon with
 * LocalSend on, and a "phone" host running the independent `localsend` 0.1.2 CLI (npm, a
 * devDependency; protocol 2.1; plain-HTTP receiver, sender without a client certificate).
 * Both directions, over real multicast discovery and real TCP between the hosts:
 * - its sender -> p2pd over HTTPS: the unverified offer waits for `p2pd accept`, then lands;
 * - p2pd -> its receiver, which speaks plain HTTP only: refused without --allow-http, a PIN it asks
 *   for is PIN_REQUIRED / PIN_WRONG, and with --allow-http and the right --pin the file arrives
 *   intact and the CLI warns that it went in clear.
 * Multicast stays inside the namespaces; every child process is bounded in time and killed at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemons.js';
import { sha256File, writeRandomFile } from '../helpers/files.js';
import { Lan, lanUnavailable } from '../helpers/lan.js';

const LOCALSEND_CLI = new URL('../../../node_modules/localsend/dist/cli.js', import.meta.url).pathname;
const PIN = '4711';

const why = lanUnavailable();
if (why !== null) console.warn(`\n*** LAN suite SKIPPED: ${why} ***\n`);

interface Child {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs the `localsend` CLI inside `prefix`, killed after `timeoutMs` (and at the end of the suite). */
function localsend(prefix: string[], args: string[], children: ChildProcess[], timeoutMs: number): Child {
  const [cmd, ...rest] = [...prefix, process.execPath, LOCALSEND_CLI, ...args];
  // Its fetch refuses self-signed certificates; LocalSend peers accept them (and should pin them).
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { process: child, output: () => out, exited };
}

interface PeerJson {
  id: string;
  name: string;
  protocol?: string;
  verified?: boolean;
}

describe('LocalSend interop with the independent `localsend` CLI on a simulated LAN', { skip: why ?? false, timeout: 240_000 }, () => {
  let lan: Lan;
  let box: TestDaemon;
  let data: string;
  let lsPort = 0;
  const children: ChildProcess[] = [];

  before(async () => {
    lan = Lan.create(['box', 'phone']);
    data = await mkdtemp(join(tmpdir(), 'p2pd-lan-ls-'));
    box = await TestDaemon.create({
      name: 'box',
      accept: 'all',
      interfaces: ['eth0'],
      prefix: lan.host('box').prefix,
      extra: { discovery: { enabled: true, refreshSeconds: 1, expireSeconds: 10 }, localsend: { enabled: true, port: 0 } },
    });
    await box.start();
    await waitFor(
      () => {
        const m = /"port":(\d+),"fingerprint":"[0-9A-F]{64}","msg":"LocalSend receiver listening"/.exec(box.log);
        lsPort = m === null ? 0 : Number(m[1]);
        return lsPort > 0;
      },
      10_000,
      'the LocalSend port in the log',
    );
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await box?.destroy();
    lan?.destroy();
    if (data) await rm(data, { recursive: true, force: true });
  });

  it('binds its LocalSend listener to the chosen interface only', () => {
    assert.match(box.log, new RegExp(`"hosts":\\["${lan.host('box').address.replaceAll('.', '\\.')}"\\],"port":${lsPort}`));
  });

  it('its sender -> p2pd over HTTPS: the unverified offer waits for accept, then lands intact', async () => {
    const file = join(data, 'from-phone.bin');
    await writeRandomFile(file, 3 * 1024 * 1024);
    const send = localsend(
      lan.host('phone').prefix,
      ['send', lan.host('box').address, file, '--port', String(lsPort), '--protocol', 'https', '--alias', 'js-phone'],
      children,
      60_000,
    );
    let offerId = '';
    await waitFor(
      async () => {
        const r = await box.json<{ offers: Array<{ id: string; peer: { id: string } }> }>(['incoming']);
        const offer = r.offers.find((o) => o.peer.id === `unverified@${lan.host('phone').address}`);
        offerId = offer?.id ?? '';
        return offerId !== '';
      },
      30_000,
      'the offer from the phone to wait for a person',
    );
    const accepted = await box.cli(['accept', offerId]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(await send.exited, 0, send.output());
    await waitFor(
      async () => (await sha256File(join(box.inbox, 'from-phone.bin')).catch(() => '')) === (await sha256File(file)),
      20_000,
      'the file in the inbox',
    );
  });

  it('p2pd -> its plain-HTTP receiver: refused without --allow-http, PIN asked and checked, then sent with a warning', async () => {
    const saveDir = join(data, 'phone-received');
    await mkdir(saveDir, { recursive: true });
    const receiver = localsend(
      lan.host('phone').prefix,
      ['receive', '--autoAccept', '--saveDir', saveDir, '--alias', 'js-phone', '--pin', PIN, '--discoveryInterval', '3600'],
      children,
      150_000,
    );
    let device: PeerJson | undefined;
    await waitFor(
      async () => {
        const { peers } = await box.json<{ peers: PeerJson[] }>(['peers']);
        device = peers.find((p) => p.protocol === 'localsend' && p.name === 'js-phone');
        return device !== undefined;
      },
      45_000,
      "box to see the phone's receiver over LocalSend multicast",
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nreceiver output:\n${receiver.output()}`);
    });
    assert.equal(device!.verified, false, 'a plain-HTTP device is never verified');
    const file = join(data, 'to-phone.bin');
    await writeRandomFile(file, 2 * 1024 * 1024);

    const code = async (args: string[]): Promise<{ code: number | null; error: string; stderr: string }> => {
      const r = await box.cli(['send', 'js-phone', file, '--json', ...args]);
      const doc = JSON.parse(r.stdout) as { transfer?: { error: { code: string } | null }; error?: { code: string } };
      return { code: r.code, error: doc.transfer?.error?.code ?? doc.error?.code ?? '', stderr: r.stderr };
    };
    assert.deepEqual(await code([]).then((r) => [r.code, r.error]), [77, 'PLAIN_HTTP_REFUSED']);
    assert.deepEqual(await code(['--allow-http']).then((r) => [r.code, r.error]), [77, 'PIN_REQUIRED']);
    assert.deepEqual(await code(['--allow-http', '--pin', '0000']).then((r) => [r.code, r.error]), [77, 'PIN_WRONG']);

    const ok = await box.cli(['send', 'js-phone', file, '--allow-http', '--pin', PIN]);
    assert.equal(ok.code, 0, `${ok.stderr}\nreceiver: ${receiver.output()}`);
    assert.match(ok.stderr, /warning: js-phone \(198\.51\.100\.\d+\) speaks plain HTTP/);
    await waitFor(async () => (await sha256File(join(saveDir, 'to-phone.bin')).catch(() => '')) === (await sha256File(file)), 20_000, 'the file at the phone');
    receiver.process.kill('SIGINT');
    await Promise.race([receiver.exited, new Promise((r) => setTimeout(r, 5000))]);
  });
});
