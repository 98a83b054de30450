'use strict';
// variable(key).subscribe: changes from this client, another client and another process
// arrive in order; unsubscribe stops them; failures reach onError.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Sidecar, optionsFor, runNode, PACKAGE } = require('./helpers.js');

const { Cronium, CroniumError } = require('cronium');

let sidecar;

before(async () => {
  sidecar = await Sidecar.start();
});

after(() => sidecar?.stop());

/** Resolves with the first `n` callback calls, or rejects after `ms`. */
function collect(variable, n, ms = 10000, options = {}) {
  const calls = [];
  let stop;
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${calls.length} of ${n} changes in ${ms} ms`)), ms);
    stop = variable.subscribe((value, change) => {
      calls.push({ value, change });
      if (calls.length === n) {
        clearTimeout(timer);
        resolve(calls);
      }
    }, options);
  });
  return { done, stop: () => stop() };
}

const settleWatch = () => new Promise((r) => setTimeout(r, 300));

describe('subscribe', () => {
  it('reports every change, in order, with value and metadata', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const counter = client.variable('counter');
    const { done, stop } = collect(counter, 4);
    await settleWatch();
    const v1 = await counter.set(0);
    await counter.set({ big: 2n ** 64n, empty: '' });
    await counter.set(false);
    await counter.delete();
    const calls = await done;
    stop();
    assert.deepStrictEqual(
      calls.map((c) => c.value),
      [0, { big: 2n ** 64n, empty: '' }, false, undefined],
    );
    assert.equal(calls[0].change.key, 'counter');
    assert.equal(calls[0].change.version, v1);
    assert.equal(calls[0].change.deleted, false);
    assert.equal(calls[3].change.deleted, true);
    assert.equal(calls[3].change.version, null);
  });

  it('sees writes by another execution of the same user and by the admin command', async () => {
    const first = sidecar.create();
    const second = sidecar.create(['--user', first.userId]);
    const watcher = new Cronium(optionsFor(first));
    const writer = new Cronium(optionsFor(second));
    const { done, stop } = collect(watcher.variable('shared'), 2);
    await settleWatch();
    await writer.setVariable('shared', 'from another execution');
    sidecar.admin(['variables', 'set', '--user', first.userId, 'shared', '"from the admin"']);
    const calls = await done;
    stop();
    assert.deepStrictEqual(
      calls.map((c) => c.value),
      ['from another execution', 'from the admin'],
    );
  });

  it('unsubscribe stops the callbacks and lets the process exit', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const v = client.variable('stop.me');
    const seen = [];
    const stop = v.subscribe((value) => seen.push(value));
    await settleWatch();
    await v.set(1);
    await new Promise((r) => setTimeout(r, 300));
    stop();
    stop(); // twice is harmless
    await v.set(2);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepStrictEqual(seen, [1]);
  });

  it('an AbortSignal unsubscribes', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const v = client.variable('signal');
    const controller = new AbortController();
    const seen = [];
    v.subscribe((value) => seen.push(value), { signal: controller.signal });
    await settleWatch();
    await v.set('a');
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await v.set('b');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepStrictEqual(seen, ['a']);
    // An already aborted signal subscribes to nothing.
    v.subscribe(() => assert.fail('called'), { signal: AbortSignal.abort() });
  });

  it('a callback that throws is reported and the subscription goes on (as in every language)', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const v = client.variable('throws');
    const seen = [];
    const errors = [];
    const stop = v.subscribe(
      (value) => {
        seen.push(value);
        if (value === 1) throw new Error('boom');
      },
      { onError: (err) => errors.push(err) },
    );
    await settleWatch();
    await v.set(1);
    await v.set(2);
    const deadline = Date.now() + 10000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop();
    assert.deepStrictEqual(seen, [1, 2]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, 'boom');
  });

  it('without onError a failing callback is one line on stderr, never a crash', async () => {
    const exec = sidecar.create();
    const script = `
      const cronium = require('cronium');
      const v = cronium.variable('live');
      const stop = v.subscribe((value) => {
        if (value === 1) throw new Error('boom');
        console.log('got', value);
        stop();
      });
      setTimeout(async () => { for (const n of [1, 2]) await v.set(n); }, 300);`;
    const { code, stdout, stderr } = await runNode(['-e', script], exec.env, { cwd: PACKAGE, timeout: 20000 });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), 'got 2');
    assert.match(stderr, /cronium: a subscriber of "live":.*boom/s);
  });

  it('watchVariable: the changes as an async iterator, closed when the loop is left', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const changes = client.variable('iter').watch();
    const first = changes.next(); // the watch opens here
    await settleWatch();
    const v1 = await client.setVariable('iter', { n: 1 });
    await client.deleteVariable('iter');
    const a = (await first).value;
    const b = (await changes.next()).value;
    await changes.return();
    assert.deepStrictEqual([a.key, a.value, a.version, a.deleted], ['iter', { n: 1 }, v1, false]);
    assert.deepStrictEqual([b.value, b.version, b.deleted], [undefined, null, true]);
    const refused = new Cronium(optionsFor(sidecar.create(['--scope', 'input:read'])));
    await assert.rejects(refused.watchVariable('k').next(), { code: 'scope_insufficient' });
  });

  it('a refused watch reaches onError as a CroniumError', async () => {
    const client = new Cronium(optionsFor(sidecar.create(['--scope', 'input:read'])));
    const error = await new Promise((resolve) => {
      client.variable('k').subscribe(() => {}, { onError: resolve });
    });
    assert.ok(error instanceof CroniumError);
    assert.equal(error.code, 'scope_insufficient');
    assert.equal(error.kind, 'auth');
  });

  it('a script with a subscription runs until it unsubscribes', async () => {
    const exec = sidecar.create();
    const script = `
      const cronium = require('cronium');
      const v = cronium.variable('live');
      const stop = v.subscribe((value) => {
        console.log('got', value);
        if (value === 3) stop();
      });
      setTimeout(async () => { for (const n of [1, 2, 3]) await v.set(n); }, 300);`;
    const { code, stdout, stderr } = await runNode(['-e', script], exec.env, { cwd: PACKAGE, timeout: 20000 });
    assert.equal(code, 0, stderr);
    assert.deepStrictEqual(stdout.trim().split('\n'), ['got 1', 'got 2', 'got 3']);
  });
});
