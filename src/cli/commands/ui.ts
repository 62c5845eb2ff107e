/** `p2pd ui`: the dashboard's address with a one-time login token, and `--open` to open it. */
import { spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliContext } from '../context.js';

export async function uiCommand(ctx: CliContext, openIt: boolean): Promise<number> {
  const r = await ctx.client().request('ui-token');
  if (ctx.json) {
    ctx.printJson(r);
    return 0;
  }
  const seconds = Math.max(0, Math.round((Date.parse(r.expiresAt) - Date.now()) / 1000));
  if (openIt) {
    if (await openInBrowser(ctx, r.url)) {
      ctx.out(`Opened the dashboard in your browser (${r.origin}).`);
      return 0;
    }
    ctx.err('Could not open a browser here (no desktop session?).');
  }
  ctx.out(`Open this address in a browser on this machine within ${seconds} s (it works once):\n\n  ${r.url}\n`);
  return 0;
}

/**
 * Opens the page through a 0600 file that redirects to it, so that the token never shows on a
 * command line where other users could read it (ps). False when no opener could be started.
 */
async function openInBrowser(ctx: CliContext, url: string): Promise<boolean> {
  const opener = ctx.deps.platform === 'darwin' ? 'open' : ctx.deps.platform === 'win32' ? null : 'xdg-open';
  if (opener === null) return false;
  const dir = ctx.config().config.stateDir;
  const file = join(dir, 'dashboard-open.html');
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(file, 'w', 0o600);
    await handle.chmod(0o600);
    const href = url.replaceAll('&', '&amp;').replaceAll('"', '&quot;');
    await handle.writeFile(
      `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${href}"><title>p2pd</title><a href="${href}">Open the p2pd dashboard</a>\n`,
    );
    await handle.close();
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const child = spawn(opener, [file], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    // xdg-open says within moments whether it found a browser; one still running has started it
    // (and is left to run on its own).
    const timer = setTimeout(() => {
      child.unref();
      resolve(true);
    }, 5000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}
