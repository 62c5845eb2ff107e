/**
 * ESLint rule `p2pd/layers`: the architecture's "never" arrows as import restrictions, so a wrong
 * import fails lint instead of waiting for someone to redraw docs/ARCHITECTURE.md.
 *
 * A module is the first path segment under the source root: a directory (`transfer`) or a
 * top-level file (`errors.ts`). Imports inside one module are always allowed. The options say,
 * per importing module, what it may not reach (`forbid`) or the only modules it may reach
 * (`allow`); `internal` modules may be imported by nobody except the `entry` files.
 */
import { builtinModules } from 'node:module';
import { dirname, relative, resolve, sep } from 'node:path';

const BUILTINS = new Set(builtinModules);

/** `node:fs/promises` and `fs/promises` both name `fs`; anything else is not a built-in. */
function builtinName(specifier) {
  const bare = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  const name = bare.split('/')[0];
  return specifier.startsWith('node:') || BUILTINS.has(bare) ? name : null;
}

/**
 * The module a path under the source root belongs to, or null for a path outside it. A top-level
 * file is named by its source (`errors.ts`), whether the import says `errors.js` or not.
 */
function moduleOf(srcRoot, file) {
  const rel = relative(srcRoot, file);
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep) || /^[a-zA-Z]:/.test(rel)) return null;
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0] : parts[0].replace(/\.[cm]?[jt]s$/, '') + '.ts';
}

/** How a module is written in messages: `transfer/` for a directory, `errors.ts` for a file. */
const show = (mod) => (mod.includes('.') ? mod : `${mod}/`);

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'keep imports to the arrows of docs/ARCHITECTURE.md' },
    schema: [
      {
        type: 'object',
        properties: {
          root: { type: 'string' },
          entry: { type: 'array', items: { type: 'string' } },
          internal: { type: 'array', items: { type: 'string' } },
          modules: { type: 'object' },
        },
        required: ['root'],
        additionalProperties: false,
      },
    ],
    messages: {
      internal: "Only {{entry}} may import {{target}} ('{{specifier}}'): it is the top of the program.",
      forbidden: "{{from}} may not import {{target}} ('{{specifier}}'); see docs/ARCHITECTURE.md.",
      notAllowed: "{{from}} may import only {{allowed}} ('{{specifier}}' reaches {{target}}); see docs/ARCHITECTURE.md.",
      builtin: "{{from}} does no I/O: it may not import '{{specifier}}'.",
    },
  },
  create(context) {
    const options = context.options[0];
    const srcRoot = resolve(context.cwd, options.root);
    const file = context.filename;
    const from = moduleOf(srcRoot, file);
    if (from === null) return {};
    const entry = options.entry ?? [];
    const internal = options.internal ?? [];
    const own = options.modules?.[from] ?? {};
    const isEntry = entry.includes(from);

    function check(node, specifier) {
      if (typeof specifier !== 'string') return;
      const data = { from: show(from), specifier };
      if (!specifier.startsWith('.')) {
        const name = builtinName(specifier);
        if (name !== null && (own.forbidBuiltins ?? []).includes(name)) {
          context.report({ node, messageId: 'builtin', data });
        }
        return;
      }
      const target = moduleOf(srcRoot, resolve(dirname(file), specifier));
      if (target === null || target === from) return;
      const shown = { ...data, target: show(target) };
      if (internal.includes(target) && !isEntry) {
        context.report({ node, messageId: 'internal', data: { ...shown, entry: entry.join(', ') } });
      } else if ((own.forbid ?? []).includes(target)) {
        context.report({ node, messageId: 'forbidden', data: shown });
      } else if (own.allow !== undefined && !own.allow.includes(target)) {
        context.report({ node, messageId: 'notAllowed', data: { ...shown, allowed: own.allow.map(show).join(', ') } });
      }
    }

    const fromSource = (node) => {
      if (node.source) check(node.source, node.source.value);
    };
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => {
        if (node.source.type === 'Literal') check(node.source, node.source.value);
      },
      TSImportType: (node) => {
        const arg = node.argument;
        const literal = arg?.type === 'TSLiteralType' ? arg.literal : arg;
        if (literal?.type === 'Literal') check(literal, literal.value);
      },
    };
  },
};

export default { rules: { layers: layersRule } };
