/**
 * The targets of issue 14 ("As fast as the wire"), checked against one run's figures. Every
 * target is a ratio between methods measured side by side, so it means the same on any machine;
 * a target whose scenario or method did not run reads "not measured".
 */
import type { BenchResult, MethodId, MethodResult, ScenarioId, ScenarioResult, Target } from './types.js';

const MB = 1e6;
/** Each daemon's CPU seconds per GiB before the work on issue 14 (loopback, 2026-11-25, docs/BENCHMARKS.md history). */
export const CPU_PER_GIB_BEFORE = { sender: 2.9, receiver: 4.5 };
const PEAK_RSS_GOAL = 100 * MB;
const IDLE_RSS_GOAL = 70 * MB;

function method(scenarios: ScenarioResult[], scenario: ScenarioId, id: MethodId): MethodResult | null {
  const m = scenarios.find((s) => s.id === scenario)?.methods.find((x) => x.id === id);
  return m === undefined || m.status !== 'ok' ? null : m;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : a / b;
}

/** `how`: what measures it, when this run did not. */
function atLeast(goal: string, value: number | null, min: number, how = 'not measured'): Target {
  return { goal, measured: value === null ? how : `${value.toFixed(2)}×`, met: value === null ? null : value >= min };
}

function mb(bytes: number | null): string {
  return bytes === null ? '?' : `${(bytes / MB).toFixed(0)} MB`;
}

export function checkTargets(scenarios: ScenarioResult[], p2pd: BenchResult['p2pd']): Target[] {
  const large = method(scenarios, 'large', 'p2pd');
  const targets: Target[] = [
    atLeast('1 GiB: p2pd ≥ 1.2× scp aes128-gcm', large?.vsScp ?? null, 1.2),
    atLeast('1 GiB (stretch): p2pd ≥ 0.9× nc → dd', large?.vsNc ?? null, 0.9),
    atLeast('1 GiB: p2pd ≥ 1.0× the raw Node TCP pipe', ratio(large?.bytesPerSecond, method(scenarios, 'large', 'tcp')?.bytesPerSecond), 1.0),
    atLeast('1 GiB with one core kept busy: p2pd ≥ 1.0× scp', method(scenarios, 'large-load', 'p2pd')?.vsScp ?? null, 1.0, 'needs --load'),
    atLeast(
      'small files: p2pd ≥ 2× rsync’s files/s',
      ratio(method(scenarios, 'small', 'p2pd')?.filesPerSecond, method(scenarios, 'small', 'rsync')?.filesPerSecond),
      2,
    ),
    atLeast('100 × 10 MiB: p2pd ≥ 1.2× scp -r', method(scenarios, 'medium', 'p2pd')?.vsScp ?? null, 1.2),
  ];
  const tbf = scenarios.find((s) => s.id === 'large-tbf');
  const limited = method(scenarios, 'large-tbf', 'p2pd');
  const share = tbf?.linkMbit == null || limited?.bytesPerSecond == null ? null : (limited.bytesPerSecond * 8) / (tbf.linkMbit * 1e6);
  targets.push({
    goal: `a link limited with tc tbf${tbf?.linkMbit == null ? '' : ` to ${tbf.linkMbit} Mbit/s`}: p2pd ≥ 95 % of the link rate`,
    measured: share === null ? 'needs --tbf 1000, as root' : `${(share * 100).toFixed(1)} %`,
    met: share === null ? null : share >= 0.95,
  });

  // Peak RSS of each daemon during the sends of every scenario (sampled VmRSS), and idle RSS.
  const peaks = scenarios.flatMap((s) => s.methods.filter((m) => m.id === 'p2pd' && m.peakRssBytes !== null).map((m) => m.peakRssBytes!));
  const peak = (side: 'sender' | 'receiver'): number | null => {
    const xs = peaks.map((p) => p[side]).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : Math.max(...xs);
  };
  const [ps, pr] = [peak('sender'), peak('receiver')];
  targets.push({
    goal: 'peak RSS of each daemon during a send ≤ 100 MB (the issue: during 10 GiB; here: the sizes of this run)',
    measured: `alice ${mb(ps)}, bob ${mb(pr)}`,
    met: ps === null || pr === null ? null : Math.max(ps, pr) <= PEAK_RSS_GOAL,
  });
  const { alice, bob } = p2pd.idleRssBytes;
  targets.push({
    goal: 'idle RSS of each daemon ≤ 70 MB',
    measured: `alice ${mb(alice)}, bob ${mb(bob)}`,
    met: alice === null || bob === null ? null : Math.max(alice, bob) <= IDLE_RSS_GOAL,
  });
  const cpu = large?.cpuSecondsPerGiB ?? null;
  targets.push({
    goal: `CPU s per GiB of each daemon (1 GiB file) below ${CPU_PER_GIB_BEFORE.sender} (sender) and ${CPU_PER_GIB_BEFORE.receiver} (receiver), the figures before issue 14`,
    measured: cpu === null ? 'not measured' : `alice ${cpu.sender.toFixed(2)}, bob ${cpu.receiver.toFixed(2)}`,
    met: cpu === null ? null : cpu.sender < CPU_PER_GIB_BEFORE.sender && cpu.receiver < CPU_PER_GIB_BEFORE.receiver,
  });
  return targets;
}
