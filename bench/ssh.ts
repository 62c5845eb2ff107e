/**
 * A throwaway sshd on the receiving side (bob's namespace, or 127.0.0.1; temporary host key,
 * client key, authorized_keys and config; run as the current user in the foreground) and the scp
 * and rsync runs over it from the sending side, all with aes128-gcm@openssh.com (the cipher
 * closest to p2pd's TLS_AES_128_GCM_SHA256).
 */
import { rmdirSync } from 'node:fs';
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import type { Lifecycle } from './lifecycle.js';
import { lastLines, run, runOk, Service, which } from './proc.js';
import { onSide, type Topology } from './topology.js';

export const SSH_CIPHER = 'aes128-gcm@openssh.com';
/** Where OpenSSH's sshd, run as root, insists on chrooting its unprivileged child. */
const PRIVSEP_DIR = '/run/sshd';

export interface SshTools {
  sshd: string;
  ssh: string;
  scp: string;
  sshKeygen: string;
  rsync: string;
  /** rsync ≥ 3.2.4 can fsync every file it writes. */
  rsyncHasFsync: boolean;
}

/** The tools, or why they cannot be used. */
export async function findSshTools(life: Lifecycle): Promise<SshTools | string> {
  const names = ['sshd', 'ssh', 'scp', 'ssh-keygen', 'rsync'] as const;
  const paths = await Promise.all(names.map((n) => which(n)));
  const missing = names.filter((_, i) => paths[i] === null);
  if (missing.length > 0) return `skipped: install openssh-server and rsync (missing: ${missing.join(', ')})`;
  const [sshd, ssh, scp, sshKeygen, rsync] = paths as string[];
  const help = await run(life, rsync!, ['--help'], { signal: AbortSignal.timeout(10_000) }).catch(() => null);
  return { sshd: sshd!, ssh: ssh!, scp: scp!, sshKeygen: sshKeygen!, rsync: rsync!, rsyncHasFsync: help?.stdout.includes('--fsync') ?? false };
}

/** A port free on 127.0.0.1; in bob's fresh namespace any port is free, so a random one. */
export async function freePort(topo: Topology): Promise<number> {
  if (topo.kind === 'lan') return 20_000 + Math.floor(Math.random() * 40_000);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, topo.receiver.address, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class SshServer {
  readonly tools: SshTools;
  readonly port: number;
  readonly #dir: string;
  readonly #service: Service;
  readonly #life: Lifecycle;
  readonly #net: Topology;

  private constructor(life: Lifecycle, topo: Topology, tools: SshTools, dir: string, port: number, service: Service) {
    this.#life = life;
    this.#net = topo;
    this.tools = tools;
    this.#dir = dir;
    this.port = port;
    this.#service = service;
  }

  get key(): string {
    return join(this.#dir, 'client_ed25519');
  }

  static async start(life: Lifecycle, topo: Topology, tools: SshTools, dir: string, log: (msg: string) => void, signal: AbortSignal): Promise<SshServer> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const hostKey = join(dir, 'host_ed25519');
    const clientKey = join(dir, 'client_ed25519');
    await runOk(life, tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'p2pd-bench-host', '-f', hostKey], { signal });
    await runOk(life, tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'p2pd-bench-client', '-f', clientKey], { signal });
    await writeFile(join(dir, 'authorized_keys'), await readFile(`${clientKey}.pub`), { mode: 0o600 });

    if (process.getuid?.() === 0) {
      const exists = await stat(PRIVSEP_DIR).then(
        () => true,
        () => false,
      );
      if (!exists) {
        // What the ssh service would create at start (systemd RuntimeDirectory=sshd); in /run, so gone at reboot.
        log(`creating ${PRIVSEP_DIR} (sshd's privilege separation directory); removed again at the end`);
        await mkdir(PRIVSEP_DIR, { mode: 0o755 });
        life.defer(`remove ${PRIVSEP_DIR}`, () => rmdir(PRIVSEP_DIR).catch(() => undefined));
        life.atExit(() => rmdirSync(PRIVSEP_DIR));
      }
    }

    // A free port can be taken between our check and sshd's bind: try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort(topo);
      const address = topo.receiver.address;
      const config = join(dir, 'sshd_config');
      await writeFile(config, sshdConfig(dir, address, port));
      const service = new Service(life, 'sshd', ...onSide(topo.receiver, tools.sshd, ['-D', '-e', '-f', config]));
      try {
        await service.waitFor((line) => (line.includes(`Server listening on ${address} port ${port}`) ? true : undefined), signal, 'listening');
      } catch (err) {
        lastError = err;
        await service.stop();
        if (signal.aborted) throw err;
        continue;
      }
      const server = new SshServer(life, topo, tools, dir, port, service);
      // One login before anything is timed: checks the keys and warms up the page cache.
      const r = await run(life, ...onSide(topo.sender, tools.ssh, [...server.sshOptions(), '-p', String(port), address, 'true']), { signal });
      if (r.code !== 0) {
        await service.stop();
        throw new Error(`ssh to the bench's sshd failed (${r.code}): ${lastLines(r.stderr, 5)}\nsshd said:\n${lastLines(service.output, 10)}`);
      }
      return server;
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  /** Options for ssh and scp (the port flag differs: -p for ssh, -P for scp). */
  sshOptions(): string[] {
    return [
      '-F',
      '/dev/null',
      '-i',
      this.key,
      '-c',
      SSH_CIPHER,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
    ];
  }

  /** `scp -p [-r] src <bob>:dest` from alice's side (OpenSSH ≥ 9 speaks SFTP underneath). */
  scp(src: string, dest: string, options: { recursive: boolean; signal: AbortSignal }): ReturnType<typeof runOk> {
    const args = [
      '-q',
      '-p',
      ...(options.recursive ? ['-r'] : []),
      ...this.sshOptions(),
      '-P',
      String(this.port),
      src,
      `${this.#net.receiver.address}:${dest}`,
    ];
    return runOk(this.#life, ...onSide(this.#net.sender, this.tools.scp, args), { signal: options.signal });
  }

  /**
   * One file: `rsync --whole-file -tp [--fsync]`, which fsyncs it itself when it can. A tree:
   * `rsync -a --whole-file`, and the caller syncs once at the end, like the other tree methods.
   */
  rsync(src: string, dest: string, options: { recursive: boolean; signal: AbortSignal }): ReturnType<typeof runOk> {
    const ssh = [this.tools.ssh, ...this.sshOptions(), '-p', String(this.port)].map(quoteForRsync).join(' ');
    const mode = options.recursive ? ['-a'] : ['-tp', ...(this.tools.rsyncHasFsync ? ['--fsync'] : [])];
    const args = ['--whole-file', ...mode, '-e', ssh, src, `${this.#net.receiver.address}:${dest}`];
    return runOk(this.#life, ...onSide(this.#net.sender, this.tools.rsync, args), { signal: options.signal });
  }

  stop(): Promise<void> {
    return this.#service.stop();
  }
}

/** rsync splits its -e command on spaces but honours single quotes. */
function quoteForRsync(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function sshdConfig(dir: string, address: string, port: number): string {
  return [
    `# Written by p2pd's bench for one run; the sshd reading it dies with the bench.`,
    `Port ${port}`,
    `ListenAddress ${address}`,
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${os.userInfo().username}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin yes',
    'StrictModes no',
    'UsePAM no',
    'UseDNS no',
    'PrintMotd no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    `Ciphers ${SSH_CIPHER}`,
    'Compression no',
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
    '',
  ].join('\n');
}
