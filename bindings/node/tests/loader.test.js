'use strict';
// Where the package finds its native addon: beside index.js, else napi's platform package
// `cronium-<platform>` (how npm installs the addons `make node-addons` lays out); with
// neither, a CroniumError naming both places.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const here = path.join(__dirname, '..');
const platform = `linux-${process.arch}-gnu`;
const addon = path.join(here, `cronium.${platform}.node`);
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));

// A node_modules holding `cronium` without a bundled addon.
function layout(root) {
  const dir = path.join(root, 'node_modules', 'cronium');
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['package.json', ...pkg.files.filter((f) => !f.includes('*'))]) {
    fs.copyFileSync(path.join(here, f), path.join(dir, f));
  }
  return root;
}

// Loads the package in a fresh process (the addon is loaded once per process) and asks it
// for its error codes, which come from the addon.
function load(root) {
  return execFileSync(
    process.execPath,
    ['-e', "try { console.log(require('cronium').errorCodes().length) } catch (e) { console.log(e.code + ': ' + e.message) }"],
    { cwd: root, env: { ...process.env, NODE_PATH: '', NODE_OPTIONS: '' }, encoding: 'utf8' },
  ).trim();
}

describe('the native addon', { skip: process.platform !== 'linux' || !fs.existsSync(addon) }, () => {
  let tmp;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cronium-loader-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('is loaded from the platform package when the package bundles none', () => {
    const root = layout(path.join(tmp, 'platform'));
    const platformDir = path.join(root, 'node_modules', `cronium-${platform}`);
    fs.mkdirSync(platformDir);
    fs.writeFileSync(
      path.join(platformDir, 'package.json'),
      JSON.stringify({ name: `cronium-${platform}`, main: `cronium.${platform}.node` }),
    );
    fs.copyFileSync(addon, path.join(platformDir, `cronium.${platform}.node`));
    assert.match(load(root), /^\d+$/);
  });

  it('says where it looked when there is none', () => {
    const root = layout(path.join(tmp, 'none'));
    const said = load(root);
    assert.match(said, /^not_configured: /);
    assert.ok(said.includes(`cronium.${platform}.node`), said);
    assert.ok(said.includes(`cronium-${platform}`), said);
  });

  it('reports a broken addon instead of skipping it silently', () => {
    const root = layout(path.join(tmp, 'broken'));
    fs.writeFileSync(path.join(root, 'node_modules', 'cronium', `cronium.${platform}.node`), 'not an ELF file');
    const said = load(root);
    assert.match(said, /^not_configured: the Cronium native addon failed to load/);
  });
});
