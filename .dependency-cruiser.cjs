// The layers of src/ (docs/storage.md, "Layers"), checked by `npm run check:layers` in `npm test`.
// Rings from the centre out: a folder imports only itself and folders of inner rings. Folders of one ring do not
// import each other. The top (cli, client, commands, service, testing, src/index.ts) may import anything, and
// nothing below imports it.
const RINGS = [
  ['core', 'fs', 'log', 'generated'],
  ['config'],
  ['store/embedded', 'store/etcd'],
  ['app'],
  ['extensions', 'metrics'],
  ['transport'],
  ['server'],
];
const TOP = ['cli', 'client', 'commands', 'service', 'testing', 'index.ts'];

const dir = (name) => (name === 'generated' ? 'generated/' : name.endsWith('.ts') ? `src/${name}$` : `src/${name}/`);
const esc = (s) => s.replace(/[.]/g, '\\.');
const known = [...RINGS.flat(), ...TOP];

const layerRules = RINGS.flatMap((ring, r) =>
  ring.map((name) => ({
    name: `layer-${name.replace('/', '-')}`,
    comment: `${name} imports only itself and ${RINGS.slice(0, r).flat().join(', ') || 'nothing else of ours'}`,
    severity: 'error',
    from: { path: `^${esc(dir(name))}` },
    to: { path: '^(src|generated)/', pathNot: [name, ...RINGS.slice(0, r).flat()].map((n) => `^${esc(dir(n))}`) },
  })),
);

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'known-folder',
      comment: `every module of src/ sits in a folder of the picture (${known.join(', ')}): add a new folder to RINGS or TOP`,
      severity: 'error',
      from: { path: '^src/', pathNot: known.map((n) => `^${esc(dir(n))}`) },
      to: {},
    },
    {
      name: 'no-circular',
      comment: 'modules that import each other, directly or through others, cannot be read or changed one at a time',
      severity: 'error',
      from: { path: '^(src|generated)/' },
      to: { circular: true },
    },
  ],
  options: {
    // TypeScript 7 has no compiler API to parse with; swc reads the sources, type-only imports included.
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
