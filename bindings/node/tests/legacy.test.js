'use strict';
// Scripts written for Cronium's old helpers run unchanged: `node --require register.js`
// (what `cronium run` adds to NODE_OPTIONS) gives them a synchronous global `cronium`, and
// scripts anywhere on disk can `require`/`import` the package through CRONIUM_NODE_PATH.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Sidecar, runNode, baseEnv, CRONIUM, PACKAGE } = require('./helpers.js');

const REGISTER = path.join(PACKAGE, 'register.js');

let sidecar;
let dir;
let nodePath;

before(async () => {
  sidecar = await Sidecar.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cronium-node-legacy-'));
  // What `make node` makes: a directory with a `cronium` package in it.
  nodePath = path.join(dir, 'node_modules');
  fs.mkdirSync(nodePath);
  fs.symlinkSync(PACKAGE, path.join(nodePath, 'cronium'), 'dir');
});

after(() => {
  sidecar?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function script(name, text) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

// An old script: no require line, every call synchronous, old return conventions.
const OLD_SCRIPT = `
const data = cronium.input();
const seen = cronium.getVariable('seen');
const zero = cronium.getVariable('zero');
cronium.setVariable('seen', (seen || 0) + 1);
cronium.setVariable('zero', 0);
const stored = cronium.setCondition(data.n > 1);
cronium.output({
  hello: data.name,
  seen,
  zero,
  event: cronium.event().eventName,
  condition: cronium.getCondition(),
  stored,
  missing: cronium.getVariable('never.set'),
});
console.log('done');
`;

describe('the global cronium (register.js)', () => {
  it('runs an old-style script unchanged', async () => {
    const exec = sidecar.create(['--event', 'legacy', '--input', '{"name":"Ada","n":2}']);
    sidecar.admin(['variables', 'set', '--user', exec.userId, 'seen', '4']);
    const file = script('old.js', OLD_SCRIPT);
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], exec.env);
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), 'done');
    const shown = sidecar.show(exec.id);
    assert.deepStrictEqual(shown.output, {
      hello: 'Ada',
      seen: 4,
      zero: null,
      event: 'legacy',
      condition: true,
      stored: true,
      missing: null,
    });
    assert.equal(shown.condition, true);
  });

  it('a missing input reads as {} (the old helpers read a missing input.json as {})', async () => {
    const exec = sidecar.create();
    const file = script('input.js', 'console.log(JSON.stringify(cronium.input()));');
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], exec.env);
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '{}');
  });

  it("today's API answers null for no input (only the old global keeps {})", async () => {
    const exec = sidecar.create();
    const file = script('input-new.js', `
      const c = require('cronium');
      c.input().then((v) => console.log(JSON.stringify([v, c.sync.input(), cronium.input()])));`);
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], { ...exec.env, NODE_PATH: nodePath });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '[null,null,{}]');
  });

  it('costs nothing until used: the package is not even loaded', async () => {
    const file = script('idle.js', `
      const loaded = Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(PACKAGE)}));
      console.log(JSON.stringify(loaded.map((f) => require('path').basename(f))));`);
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], {});
    assert.equal(code, 0, stderr);
    assert.deepStrictEqual(JSON.parse(stdout), ['register.js']);
  });

  it('a script of its own `cronium` (require or assignment) shadows the global', async () => {
    const exec = sidecar.create();
    const file = script('new.js', `
      const cronium = require('cronium');
      cronium.setVariable('async', 1).then(() => console.log(typeof cronium.variable));`);
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], { ...exec.env, NODE_PATH: nodePath });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), 'function');
    const sloppy = script('assign.js', `cronium = 5; console.log(cronium);`);
    const r = await runNode(['--require', REGISTER, sloppy], {});
    assert.equal(r.stdout.trim(), '5', r.stderr);
  });

  it('an ES module anywhere on disk can import cronium', async () => {
    const exec = sidecar.create(['--input', '{"n":1}']);
    const file = script('new.mjs', `
      import * as cronium from 'cronium';
      import { getVariable } from 'cronium';
      await cronium.setVariable('esm', 2);
      console.log((await cronium.input()).n, await getVariable('esm'));`);
    const { code, stdout, stderr } = await runNode(['--require', REGISTER, file], { ...exec.env, NODE_PATH: nodePath });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '1 2');
  });
});

describe('under `cronium run`', () => {
  const help = spawnSync(CRONIUM, ['run', '--help'], { encoding: 'utf8' });
  const skip = help.status === 0 ? false : `\`cronium run\` is not available in ${CRONIUM}: ${help.stderr || help.error}`;

  function run(file, args = []) {
    const out = spawnSync(CRONIUM, ['--state-dir', path.join(dir, 'run-state'), 'run', file, '--json', ...args], {
      env: { ...baseEnv(), CRONIUM_NODE_PATH: nodePath, CRONIUM_NODE: process.execPath },
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.equal(out.status, 0, `cronium run failed: ${out.stderr}`);
    return JSON.parse(out.stdout);
  }

  it('runs an old-style script with no require line', { skip }, () => {
    const report = run(script('legacy-run.js', OLD_SCRIPT), ['--input', '{"name":"Ada","n":2}', '--event', 'legacy']);
    assert.equal(report.exitCode, 0, JSON.stringify(report));
    assert.deepStrictEqual(report.output, {
      hello: 'Ada',
      seen: null,
      zero: null,
      event: 'legacy',
      condition: true,
      stored: true,
      missing: null,
    });
    assert.equal(report.condition, true);
  });

  it('runs CommonJS and ES module scripts that use the package', { skip }, () => {
    const cjs = run(
      script('cjs-run.js', `const c = require('cronium'); (async () => { await c.output({ cjs: (await c.input()).n }); })();`),
      ['--input', '{"n":0}'],
    );
    assert.deepStrictEqual(cjs.output, { cjs: 0 });
    const esm = run(
      script('esm-run.mjs', `import { input, output } from 'cronium';\nawait output({ esm: (await input()).n });\n`),
      ['--input', '{"n":false}'],
    );
    assert.deepStrictEqual(esm.output, { esm: false });
  });
});
