/** The bench's command line: flags first, then P2PD_BENCH_* environment variables, then defaults. */

export interface BenchOptions {
  /** Size of the large file, in MiB. */
  sizeMiB: number;
  /**
   * How many times each method runs; the table shows the median. 3 by default: on a 2-core VM
   * one run of a method can be 30 % off the next one.
   */
  runs: number;
  /** The many-small-files scenario. */
  small: boolean;
  smallFiles: number;
  smallKiB: number;
  /** Print JSON on stdout instead of the table. */
  json: boolean;
  /** Hard limit on the whole run, in seconds; everything is killed after it. */
  timeoutSeconds: number;
  /** Leave out scp and rsync even when they are installed. */
  ssh: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Measures p2pd against a plain Node TCP pipe, a Node TLS 1.3 + SHA-256 pipe, scp and rsync,
side by side in one run, all over 127.0.0.1.

  --size <MiB>      size of the large file (default 1024; env P2PD_BENCH_MIB)
  --runs <n>        runs of each method; the table shows the median (default 3; env P2PD_BENCH_RUNS)
  --small           also the many-small-files scenario (default on)
  --no-small        leave it out
  --small-files <n> files in that scenario (default 2000)
  --small-kib <n>   size of each, in KiB (default 16)
  --no-ssh          leave out scp and rsync
  --timeout <s>     kill everything after this many seconds (default: 180 + 0.1 s per MiB moved)
  --json            print the figures as JSON on stdout (progress still goes to stderr)
  --help            this text
`;

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(n) || n < 1) {
    throw new Error(`${name} needs a positive whole number, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  }
  return n;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const o: BenchOptions = {
    sizeMiB: env.P2PD_BENCH_MIB === undefined ? 1024 : positiveInt('P2PD_BENCH_MIB', env.P2PD_BENCH_MIB),
    runs: env.P2PD_BENCH_RUNS === undefined ? 3 : positiveInt('P2PD_BENCH_RUNS', env.P2PD_BENCH_RUNS),
    small: true,
    smallFiles: 2000,
    smallKiB: 16,
    json: false,
    timeoutSeconds: 0,
    ssh: true,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--size':
        o.sizeMiB = positiveInt('--size', value());
        break;
      case '--runs':
        o.runs = positiveInt('--runs', value());
        break;
      case '--small':
        o.small = true;
        break;
      case '--no-small':
        o.small = false;
        break;
      case '--small-files':
        o.smallFiles = positiveInt('--small-files', value());
        break;
      case '--small-kib':
        o.smallKiB = positiveInt('--small-kib', value());
        break;
      case '--no-ssh':
        o.ssh = false;
        break;
      case '--timeout':
        o.timeoutSeconds = positiveInt('--timeout', value());
        break;
      case '--json':
        o.json = true;
        break;
      case '--help':
      case '-h':
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${arg}\n\n${USAGE}`);
    }
  }
  if (o.timeoutSeconds === 0) {
    const mib = o.sizeMiB * o.runs * 5 + (o.small ? (o.smallFiles * o.smallKiB * o.runs * 3) / 1024 : 0);
    o.timeoutSeconds = 180 + Math.ceil(mib / 10);
  }
  return o;
}
