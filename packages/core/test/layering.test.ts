// The layers of core import only downwards: base (leaf modules) ← ffi (the libc calls) ← netlink (the
// protocol) ← the resource layer (netns, link, addr, route, neigh, rtnl). Read from the source, so a
// stray `import … from '../netns.js'` in the protocol layer fails here rather than in review.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const SRC = join(import.meta.dirname, '..', 'src');

/** Layer → the layers (top-level directories under src/) its modules may import from. */
const ALLOWED: Record<string, readonly string[]> = {
  base: ['base'],
  ffi: ['ffi', 'base'],
  netlink: ['netlink', 'ffi', 'base'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

// Every way a module can load another: `import … from` / `export … from`, a side-effect `import '…'`,
// and a dynamic `import('…')`.
const IMPORT_FORMS = [/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];

/** The specifiers a module's text imports or re-exports, statically, for effect or dynamically. */
function importsOf(text: string): string[] {
  return IMPORT_FORMS.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

const imports = (file: string): string[] => importsOf(readFileSync(file, 'utf8'));

test('the import scan sees static, side-effect and dynamic imports', () => {
  const text = "import { a } from './a.js';\nexport * as b from './b.js';\nimport './c.js';\nconst d = await import('./d.js');\n";
  assert.equal(importsOf(text).sort(), ['./a.js', './b.js', './c.js', './d.js']);
});

for (const [layer, allowed] of Object.entries(ALLOWED)) {
  test(`src/${layer}/ imports only from ${allowed.join(', ')} (and node: builtins${layer === 'base' ? '' : ', packages'})`, () => {
    const bad: string[] = [];
    for (const file of files(join(SRC, layer))) {
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) {
          if (layer === 'base' && !spec.startsWith('node:')) bad.push(`${relative(SRC, file)} → ${spec}`);
          continue;
        }
        const target = relative(SRC, resolve(dirname(file), spec)).split('/')[0]!;
        if (!allowed.includes(target)) bad.push(`${relative(SRC, file)} → ${spec}`);
      }
    }
    assert.equal(bad, []);
  });
}

test.run();
