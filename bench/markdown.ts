/** bench/RESULTS.md: the machine, the command, the tables with their ratios, the targets and the chart. */
import { dirname, relative } from 'node:path';
import { machineLine, methodNote, mb, scenarioTable, warnings } from './report.js';
import type { BenchResult } from './types.js';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function mdTable(headers: string[], rows: string[][]): string[] {
  const align = headers.map((_, i) => (i === 0 ? '---' : '---:'));
  return [headers, align, ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`);
}

/** `chartPath` relative to the results file, for the image link. */
export function formatMarkdown(r: BenchResult, resultsPath: string, chartPath: string | null): string {
  const m = r.machine;
  const lines: string[] = [
    '# Bench results',
    '',
    `Written by \`npm run bench\` (bench/transfer.ts); rerun it rather than editing this file. How to read it: [docs/BENCHMARKS.md](${relative(dirname(resultsPath), 'docs/BENCHMARKS.md')}).`,
    '',
    `- **Date:** ${r.date} (the run took ${Math.round(r.totalSeconds)} s)`,
    `- **Command:** \`npm run bench${r.commandLine === '' ? '' : ` -- ${r.commandLine}`}\``,
    `- **Machine:** ${machineLine(r)}; load average ${m.loadAverage1m.toFixed(2)} at the start`,
    `- **Network:** ${r.network.description}`,
    `- **Rounds:** ${String(r.settings.runs)}, interleaved (each round starts one method later); every figure is the median`,
    '- Every clock stops once the received data is durable (fsynced or synced); every copy is checked against the source afterwards.',
    '- **vs nc** and **vs scp**: the method’s rate over the rate of nc and of scp in the same table. CPU and RSS: each p2pd daemon (`/proc/<pid>/stat`, VmRSS sampled every 100 ms) and each Node pipe process.',
    ...warnings(r).map((w) => `- **${w}**`),
    '',
  ];
  if (chartPath !== null) lines.push(`![p2pd beside nc, scp and rsync](${relative(dirname(resultsPath), chartPath)})`, '');
  lines.push(
    '## Targets (issue 14)',
    '',
    ...mdTable(
      ['target', 'measured', 'result'],
      r.targets.map((t) => [t.goal, t.measured, t.met === null ? 'not measured' : t.met ? 'met' : '**not met**']),
    ),
    '',
  );
  for (const s of r.scenarios) {
    const { headers, rows } = scenarioTable(s);
    lines.push(`## ${s.title}`, '', ...mdTable(headers, rows), '', ...s.methods.map((x) => `- ${methodNote(x)}`), '');
  }
  const p = r.p2pd;
  lines.push(
    '## p2pd daemons',
    '',
    `- Idle RSS after start: alice ${mb(p.idleRssBytes.alice)} MB, bob ${mb(p.idleRssBytes.bob)} MB.`,
    `- VmHWM at the end of the run (start-up and every send): alice ${mb(p.peakRssBytesAtEnd.alice)} MB, bob ${mb(p.peakRssBytesAtEnd.bob)} MB.`,
    `- Rate alice's daemon reports for the large file (first data byte to last verdict): ${mb(p.daemonBytesPerSecond)} MB/s.`,
    '',
  );
  return lines.join('\n');
}
