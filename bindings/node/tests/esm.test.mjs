// The ES module entry point: named exports and the default export are the same API as
// require('cronium').

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import * as namespace from 'cronium';
import cronium, { Cronium, CroniumError, CroniumVariable, getVariable, setVariable, sync, streamOutput } from 'cronium';

const require = createRequire(import.meta.url);
const { Sidecar, optionsFor } = require('./helpers.js');
const cjs = require('cronium');

let sidecar;
before(async () => {
  sidecar = await Sidecar.start();
  Object.assign(process.env, sidecar.create().env);
});
after(() => sidecar?.stop());

describe('ESM', () => {
  it('exports every name of the CommonJS module, and it as default', () => {
    assert.equal(cronium, cjs);
    const names = Object.keys(namespace).filter((n) => n !== 'default').sort();
    assert.deepStrictEqual(names, Object.keys(cjs).sort());
    for (const name of names) assert.equal(namespace[name], cjs[name], name);
  });

  it('named functions work', async () => {
    await setVariable('esm', { n: 0, big: 2n ** 60n });
    assert.deepStrictEqual(await getVariable('esm'), { n: 0, big: 2n ** 60n });
    assert.deepStrictEqual(sync.getVariable('esm'), { n: 0, big: 2n ** 60n });
    assert.ok(namespace.variable('esm') instanceof CroniumVariable);
    assert.ok(streamOutput);
  });

  it('classes work', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    assert.equal(await client.input(), null);
    await assert.rejects(client.getVariable('bad key'), (e) => e instanceof CroniumError && e.code === 'invalid_key');
  });
});
