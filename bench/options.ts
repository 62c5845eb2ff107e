/** The bench's command line: flags first, then P2PD_BENCH_* environment variables, then defaults. */

export interface BenchOptions {
  /** Size of the large file, in MiB. */
  sizeMiB: number;
  /**
   * How many times each method runs; the table shows the median. 3 by default: on a 2-core VM
   * one run of a method can be 30 % off the next one.
   */
  runs: number;
  large: boolean;
  /** The many-small-files shape: files, KiB each, in 100 nested folders. */
  small: boolean;
  smallFiles: number;
  smallKiB: number;
  /** The medium-files shape: files, MiB each, in one folder. */
  medium: boolean;
  mediumFiles: number;
  mediumMiB: number;
  /** Leave out scp and rsync even when they are installed. */
  ssh: boolean;
  /** The Node TLS + SHA-256 pipe beside the raw one. */
  tls: boolean;
  /** A second set of large-file rounds (p2pd, scp) while another process keeps one core busy. */
  load: boolean;
  /** Large-file rounds over a link limited to this many Mbit/s (tc tbf), or null. */
  tbfMbit: number | null;
  /** Stay on 127.0.0.1 even as root. */
  loopback: boolean;
  /** Where RESULTS.md and the chart go (relative to the current directory); null: not written. */
  resultsPath: string | null;
  chartPath: string | null;
  /** Print JSON on stdout instead of the table. */
  json: boolean;
  /** Hard limit on the whole run, in seconds; everything is killed after it. */
  timeoutSeconds: number;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Measures p2pd against nc → dd, a raw Node TCP pipe, a Node TLS 1.3 + SHA-256 pipe, scp and
rsync, side by side in one run: between two network namespaces joined by a bridge when run as
root, over 127.0.0.1 otherwise. Writes bench/RESULTS.md and docs/img/bench.svg.

  --size <MiB>         size of the large file (default 1024; env P2PD_BENCH_MIB)
  --runs <n>           rounds of every method; tables show the median (default 3; env P2PD_BENCH_RUNS)
  --no-large           leave out the large file
  --small-files <n>    files in the small-files shape (default 10000)
  --small-kib <n>      size of each, in KiB (default 4)
  --no-small           leave that shape out
  --medium-files <n>   files in the medium-files shape (default 100)
  --medium-mib <n>     size of each, in MiB (default 10)
  --no-medium          leave that shape out
  --no-ssh             leave out scp and rsync
  --no-tls             leave out the Node TLS + SHA-256 pipe
  --load               also large-file rounds of p2pd and scp while another process keeps one core busy
  --tbf <Mbit/s>       also large-file rounds over a link limited with tc tbf (namespaces only)
  --loopback           use 127.0.0.1 even when run as root
  --results <file>     where to write the Markdown results (default bench/RESULTS.md)
  --chart <file>       where to write the SVG chart (default docs/img/bench.svg)
  --no-write           write neither
  --timeout <s>        kill everything after this many seconds (default: from the sizes)
  --json               print the figures as JSON on stdout (progress still goes to stderr)
  --help               this text

A quick look: npm run bench -- --size 256 --small-files 2000 --medium-files 20 --runs 1
`;

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(n) || n < 1) {
    throw new Error(`${name} needs a positive whole number, got ${raw === undefined ? 'nothing' : JSON.stringify(raw)}`);
  }
  return n;
}

function path(name: string, raw: string | undefined): string {
  if (raw === undefined || raw === '') throw new Error(`${name} needs a file name`);
  return raw;
}

/** Flags that switch something on or off, and what they set. */
const SWITCHES: Record<string, (o: BenchOptions) => void> = {
  '--no-large': (o) => (o.large = false),
  '--small': (o) => (o.small = true),
  '--no-small': (o) => (o.small = false),
  '--medium': (o) => (o.medium = true),
  '--no-medium': (o) => (o.medium = false),
  '--no-ssh': (o) => (o.ssh = false),
  '--no-tls': (o) => (o.tls = false),
  '--load': (o) => (o.load = true),
  '--loopback': (o) => (o.loopback = true),
  '--no-write': (o) => {
    o.resultsPath = null;
    o.chartPath = null;
  },
  '--json': (o) => (o.json = true),
  '--help': (o) => (o.help = true),
  '-h': (o) => (o.help = true),
};

/** Flags that take a value, and where it goes. */
const VALUES: Record<string, (o: BenchOptions, v: string | undefined) => void> = {
  '--size': (o, v) => (o.sizeMiB = positiveInt('--size', v)),
  '--runs': (o, v) => (o.runs = positiveInt('--runs', v)),
  '--small-files': (o, v) => (o.smallFiles = positiveInt('--small-files', v)),
  '--small-kib': (o, v) => (o.smallKiB = positiveInt('--small-kib', v)),
  '--medium-files': (o, v) => (o.mediumFiles = positiveInt('--medium-files', v)),
  '--medium-mib': (o, v) => (o.mediumMiB = positiveInt('--medium-mib', v)),
  '--tbf': (o, v) => (o.tbfMbit = positiveInt('--tbf', v)),
  '--results': (o, v) => (o.resultsPath = path('--results', v)),
  '--chart': (o, v) => (o.chartPath = path('--chart', v)),
  '--timeout': (o, v) => (o.timeoutSeconds = positiveInt('--timeout', v)),
};

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const o: BenchOptions = {
    sizeMiB: env.P2PD_BENCH_MIB === undefined ? 1024 : positiveInt('P2PD_BENCH_MIB', env.P2PD_BENCH_MIB),
    runs: env.P2PD_BENCH_RUNS === undefined ? 3 : positiveInt('P2PD_BENCH_RUNS', env.P2PD_BENCH_RUNS),
    large: true,
    small: true,
    smallFiles: 10_000,
    smallKiB: 4,
    medium: true,
    mediumFiles: 100,
    mediumMiB: 10,
    ssh: true,
    tls: true,
    load: false,
    tbfMbit: null,
    loopback: false,
    resultsPath: 'bench/RESULTS.md',
    chartPath: 'docs/img/bench.svg',
    json: false,
    timeoutSeconds: 0,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const toggle = SWITCHES[flag];
    const setter = VALUES[flag];
    if (toggle !== undefined && inline === undefined) toggle(o);
    else if (setter !== undefined) setter(o, inline ?? argv[++i]);
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (!o.large && !o.small && !o.medium) throw new Error('--no-large, --no-small and --no-medium together leave nothing to measure');
  if (o.timeoutSeconds === 0) o.timeoutSeconds = defaultTimeout(o);
  return o;
}

/** 180 s, plus 10 s for every 100 MiB moved (all methods, all rounds), plus the rate-limited rounds at their rate. */
function defaultTimeout(o: BenchOptions): number {
  const large = o.large ? o.sizeMiB * 6 : 0;
  const small = o.small ? (o.smallFiles * o.smallKiB * 4) / 1024 + o.smallFiles * 0.1 : 0;
  const medium = o.medium ? o.mediumFiles * o.mediumMiB * 4 : 0;
  const load = o.load && o.large ? o.sizeMiB * 2 : 0;
  const perRun = (large + small + medium + load) / 10;
  const limited = o.tbfMbit !== null && o.large ? (3 * o.sizeMiB * 8.4) / o.tbfMbit : 0;
  return 180 + Math.ceil((perRun + limited * 1.5) * o.runs);
}
