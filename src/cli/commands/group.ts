/** `p2pd group add|remove|list`: named sets of peers for `p2pd send --group` and `outbox/@<group>/`. */
import type { Argv } from 'yargs';
import type { GroupChangeResultView, GroupView, GroupsResultView } from '../../control/api.js';
import type { CliContext } from '../context.js';
import { safe, table } from '../format.js';
import type { Track, Wrap } from '../index.js';

export const GROUP_SUBCOMMANDS = ['add', 'remove', 'list'] as const;

export function groupCommands(y: Argv, run: Wrap, track: Track): Argv {
  return y
    .command(
      'add <group> <peers..>',
      'add peers to a group (created if new); each peer is stored by its id',
      track(['group', 'add'], 'group add <group> <peers..>', [], (c) =>
        c
          .positional('group', { type: 'string', demandOption: true, describe: 'letters, digits, ".", "_", "-"' })
          .positional('peers', { type: 'string', array: true, demandOption: true, default: undefined, describe: 'name, name#short-id or id of each peer' }),
      ),
      run((ctx) => groupAddCommand(ctx)),
    )
    .command(
      'remove <group> [peers..]',
      'remove peers from a group, or the whole group',
      track(['group', 'remove'], 'group remove <group> [peers..]', [], (c) =>
        c.positional('group', { type: 'string', demandOption: true }).positional('peers', { type: 'string', array: true, default: undefined }),
      ),
      run((ctx) => groupRemoveCommand(ctx)),
    )
    .command(
      'list',
      'list the groups and their members',
      track(['group', 'list'], 'group list', []),
      run((ctx) => groupListCommand(ctx)),
    )
    .demandCommand(1, 'name what to do: p2pd group add, remove or list');
}

function args(ctx: CliContext): { group: string; peers: string[] | undefined } {
  const a = ctx.args as { group?: unknown; peers?: unknown[] };
  return { group: String(a.group), peers: a.peers === undefined || a.peers.length === 0 ? undefined : a.peers.map(String) };
}

function members(g: GroupView): string {
  return g.members.map((m) => `${safe(m.name)} (${m.id.slice(0, 7)}${m.online ? '' : ', offline'})`).join(', ');
}

export async function groupAddCommand(ctx: CliContext): Promise<number> {
  const { group, peers } = args(ctx);
  const r = await ctx.client().request<GroupChangeResultView>('group-add', { group, peers });
  if (ctx.json) ctx.printJson(r);
  else if (r.group !== null) ctx.out(`Group ${safe(r.group.name)}: ${members(r.group)}`);
  return 0;
}

export async function groupRemoveCommand(ctx: CliContext): Promise<number> {
  const { group, peers } = args(ctx);
  const r = await ctx.client().request<GroupChangeResultView>('group-remove', peers === undefined ? { group } : { group, peers });
  if (ctx.json) ctx.printJson(r);
  else if (r.group === null) ctx.out(`Group ${safe(group)} removed.`);
  else ctx.out(`Group ${safe(r.group.name)}: ${members(r.group)}`);
  return 0;
}

export async function groupListCommand(ctx: CliContext): Promise<number> {
  const r = await ctx.client().request<GroupsResultView>('groups');
  if (ctx.json) {
    ctx.printJson(r);
    return 0;
  }
  if (r.groups.length === 0) {
    ctx.out('No groups yet: `p2pd group add <group> <peer>...` makes one.');
    return 0;
  }
  ctx.out(
    table(
      ['GROUP', 'MEMBERS'],
      r.groups.map((g) => [safe(g.name), members(g)]),
    ),
  );
  return 0;
}
