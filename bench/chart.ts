/**
 * The SVG bar chart the README shows: one group of bars per scenario, each bar a method's rate
 * as a share of the fastest method of that group, p2pd's bar set apart. Plain SVG text, written
 * here (no charting dependency).
 */
import { warnings } from './report.js';
import type { BenchResult, MethodResult, ScenarioResult } from './types.js';

const WIDTH = 760;
const LABEL = 210;
const BAR_MAX = 380;
const BAR = 18;
const GAP = 6;
const COLORS: Record<MethodResult['id'], string> = {
  p2pd: '#d9480f',
  nc: '#868e96',
  tcp: '#adb5bd',
  tls: '#74c0fc',
  scp: '#4c6ef5',
  rsync: '#7048e8',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The group's unit: files/s where there are many files, MB/s otherwise. */
function rate(s: ScenarioResult, m: MethodResult): { value: number; text: string } | null {
  if (s.id === 'small') return m.filesPerSecond === null ? null : { value: m.filesPerSecond, text: `${Math.round(m.filesPerSecond)} files/s` };
  return m.bytesPerSecond === null ? null : { value: m.bytesPerSecond, text: `${(m.bytesPerSecond / 1e6).toFixed(0)} MB/s` };
}

/** p2pd's bar also carries its ratios to scp and to nc. */
function ratios(m: MethodResult): string {
  const parts = [m.vsScp === null ? null : `${m.vsScp.toFixed(2)}× scp`, m.vsNc === null ? null : `${m.vsNc.toFixed(2)}× nc`];
  return parts
    .filter((p) => p !== null)
    .map((p) => ` · ${p}`)
    .join('');
}

export function formatChart(r: BenchResult): string {
  const out: string[] = [];
  let y = 84;
  for (const s of r.scenarios) {
    const bars = s.methods.flatMap((m) => {
      const v = rate(s, m);
      return v === null ? [] : [{ m, ...v }];
    });
    if (bars.length === 0) continue;
    const max = Math.max(...bars.map((b) => b.value));
    out.push(`<text x="10" y="${y}" class="h">${esc(s.short)}${s.linkMbit === null ? '' : ` (link ${s.linkMbit} Mbit/s)`}</text>`);
    y += 10;
    for (const b of bars) {
      const w = Math.max(1, Math.round((b.value / max) * BAR_MAX));
      const bold = b.m.id === 'p2pd' ? ' class="p"' : '';
      out.push(
        `<text x="${LABEL - 8}" y="${y + BAR - 5}" text-anchor="end"${bold}>${esc(b.m.label)}</text>`,
        `<rect x="${LABEL}" y="${y}" width="${w}" height="${BAR}" fill="${COLORS[b.m.id]}"/>`,
        `<text x="${LABEL + w + 6}" y="${y + BAR - 5}"${bold}>${esc(b.text)}${b.m.id === 'p2pd' ? esc(ratios(b.m)) : ''}</text>`,
      );
      y += BAR + GAP;
    }
    y += 22;
  }
  const height = y;
  const busy = warnings(r).length > 0;
  const title = `p2pd bench, ${r.date.slice(0, 10)}: ${r.network.kind === 'lan' ? 'two network namespaces over a bridge' : 'loopback'}, ${r.machine.cores} cores; median of ${String(r.settings.runs)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    '<style>text{fill:#212529}.h{font-weight:bold;font-size:14px}.p{font-weight:bold}.t{font-size:15px;font-weight:bold}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="24" class="t">${esc(title)}</text>`,
    `<text x="10" y="42" font-size="12">Higher is better; bars are to scale within each group (durable on the receiver when the clock stops)</text>`,
    ...(busy
      ? ['<text x="10" y="58" font-size="12" style="fill:#c92a2a">Other processes kept the machine busy during this run: these figures are not reliable</text>']
      : []),
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
