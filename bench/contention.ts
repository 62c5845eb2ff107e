/**
 * CPU time used by processes that are not the bench's: on a 2-core machine one busy build or
 * test run during a timed step halves what that step measures. Scans /proc every half second
 * and adds up the CPU time of every process outside the bench's own process tree (its daemons,
 * sshd and its sessions, scp, rsync and the pipe processes are all descendants). Kernel threads
 * are left out: writeback on behalf of an fsync is part of what is measured.
 */
import { readdir, readFile } from 'node:fs/promises';
import { USER_HZ } from './proc.js';
const KTHREADD = 2;

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cpuSeconds: number;
}

/** Others' CPU seconds so far: in total, and by what they run (command lines, shortened). */
export interface OtherCpuSample {
  total: number;
  byCommand: ReadonlyMap<string, number>;
}

/** The CPU time added between two samples, with the commands that took most of it. */
export function otherCpuBetween(a: OtherCpuSample, b: OtherCpuSample, top = 3): { seconds: number; top: Array<[string, number]> } {
  const diff = [...b.byCommand].map(([cmd, cpu]): [string, number] => [cmd, cpu - (a.byCommand.get(cmd) ?? 0)]);
  return {
    seconds: b.total - a.total,
    top: diff
      .filter(([, cpu]) => cpu >= 0.05)
      .sort((x, y) => y[1] - x[1])
      .slice(0, top),
  };
}

async function commandLine(pid: number, comm: string): Promise<string> {
  try {
    const words = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    const text = words.map((w) => (w.startsWith('/') ? w.slice(w.lastIndexOf('/') + 1) : w)).join(' ');
    return text.length > 60 ? `${text.slice(0, 57)}...` : text || comm;
  } catch {
    return comm;
  }
}

async function readProcs(): Promise<Proc[]> {
  const names = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  const procs = await Promise.all(
    names.map(async (name): Promise<Proc | null> => {
      try {
        const text = await readFile(`/proc/${name}/stat`, 'utf8');
        const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
        const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
        return { pid: Number(name), ppid: Number(fields[1]), comm, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / USER_HZ };
      } catch {
        return null; // exited meanwhile
      }
    }),
  );
  return procs.filter((p): p is Proc => p !== null);
}

export class OtherCpu {
  readonly #root: number;
  readonly #last = new Map<number, number>();
  #total = 0;
  readonly #byCommand = new Map<string, number>();
  /** Command lines of the pids that used CPU, read once per pid. */
  readonly #commands = new Map<number, string>();
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<OtherCpuSample> | undefined;
  /** false when /proc cannot be read (not Linux): every figure is then null. */
  #available = true;

  constructor(root = process.pid) {
    this.#root = root;
  }

  async start(intervalMs = 500): Promise<void> {
    await this.sample();
    this.#timer = setInterval(() => void this.sample(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Others' CPU seconds since start(), up to now; null where /proc is not there. */
  async sample(): Promise<OtherCpuSample | null> {
    if (!this.#available) return null;
    // One scan at a time; a caller arriving during a scan waits for the next one, so that what
    // it gets includes everything up to its call.
    while (this.#sampling !== undefined) await this.#sampling.catch(() => undefined);
    this.#sampling = this.#scan();
    try {
      return await this.#sampling;
    } catch {
      this.#available = false;
      return null;
    } finally {
      this.#sampling = undefined;
    }
  }

  async #scan(): Promise<OtherCpuSample> {
    const procs = await readProcs();
    const children = new Map<number, number[]>();
    for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
    const ours = new Set<number>([this.#root]);
    const queue = [this.#root];
    while (queue.length > 0) {
      for (const child of children.get(queue.pop()!) ?? []) {
        ours.add(child);
        queue.push(child);
      }
    }
    const first = this.#last.size === 0;
    const seen = new Set<number>();
    for (const p of procs) {
      seen.add(p.pid);
      const before = this.#last.get(p.pid);
      this.#last.set(p.pid, p.cpuSeconds);
      if (first || ours.has(p.pid) || p.pid === KTHREADD || p.ppid === KTHREADD) continue;
      // A pid not seen before (or reused: its CPU time went down) started since the last scan.
      const used = before === undefined || p.cpuSeconds < before ? p.cpuSeconds : p.cpuSeconds - before;
      if (used <= 0) continue;
      this.#total += used;
      let command = this.#commands.get(p.pid);
      if (command === undefined) {
        command = await commandLine(p.pid, p.comm);
        this.#commands.set(p.pid, command);
      }
      this.#byCommand.set(command, (this.#byCommand.get(command) ?? 0) + used);
    }
    for (const pid of this.#last.keys()) {
      if (!seen.has(pid)) {
        this.#last.delete(pid);
        this.#commands.delete(pid);
      }
    }
    return { total: this.#total, byCommand: new Map(this.#byCommand) };
  }
}
