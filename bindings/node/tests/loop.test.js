'use strict';
// Async calls run on Node's own event loop (src/uv.rs): the wait for each answer is a
// libuv poll handle plus a timer. These tests stop the sidecar (SIGSTOP) to hold answers
// back, and run the addon in worker threads, whose environments are torn down on exit.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Worker } = require('node:worker_threads');
const { Sidecar, optionsFor } = require('./helpers.js');

const { Cronium } = require('cronium');

let sidecar;

before(async () => {
  sidecar = await Sidecar.start();
});

after(() => {
  sidecar?.child.kill('SIGCONT');
  sidecar?.stop();
});

/**
 * Stops the sidecar (SIGSTOP) and returns once every thread of it is stopped: the signal
 * is only queued when kill() returns, and a thread running on another CPU could still
 * answer a request sent right after.
 */
async function stopSidecar() {
  const pid = sidecar.child.pid;
  sidecar.child.kill('SIGSTOP');
  const stopped = () =>
    fs.readdirSync(`/proc/${pid}/task`).every((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // The state is the field after the parenthesised command name.
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
    });
  const deadline = Date.now() + 5000;
  while (!stopped()) {
    if (Date.now() > deadline) throw new Error('the sidecar did not stop within 5 s');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Runs `fn` with the sidecar stopped: it accepts connections but answers nothing. */
async function withSidecarStopped(fn) {
  await stopSidecar();
  try {
    return await fn();
  } finally {
    sidecar.child.kill('SIGCONT');
  }
}

/** Runs `source` in a worker thread with `data`; resolves { messages, code }. */
function inWorker(source, data, onMessage = () => {}) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: data });
    const messages = [];
    worker.on('message', (m) => {
      messages.push(m);
      onMessage(m, worker);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => resolve({ messages, code }));
  });
}

describe('calls on the event loop', () => {
  it('a call with no answer times out at its deadline, and the loop runs meanwhile', async () => {
    const client = new Cronium({ ...optionsFor(sidecar.create()), timeout: 400, maxRetries: 0 });
    await client.setVariable('k', 1); // a warm connection
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    const err = await withSidecarStopped(() => client.getVariable('k').then(() => null, (e) => e));
    const took = Date.now() - started;
    clearInterval(timer);
    assert.ok(err, 'the call did not fail');
    assert.equal(err.code, 'timeout');
    assert.ok(took >= 380 && took < 5000, `timed out after ${took} ms (timeout: 400 ms)`);
    assert.ok(ticks >= 20, `timers ran ${ticks} times while the call waited`);
    // The connection that timed out is not reused; the next call gets its answer.
    assert.equal(await client.getVariable('k'), 1);
  });

  it('answers held back arrive once the sidecar resumes, each to its own call', async () => {
    const client = new Cronium({ ...optionsFor(sidecar.create()), timeout: 20000 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.setVariable(`v${i}`, i * 7)));
    await stopSidecar();
    let resumed = false;
    const pending = Promise.all(Array.from({ length: 20 }, (_, i) => client.getVariable(`v${i}`)));
    setTimeout(() => {
      resumed = true;
      sidecar.child.kill('SIGCONT');
    }, 200);
    const values = await pending;
    assert.ok(resumed);
    assert.deepStrictEqual(values, Array.from({ length: 20 }, (_, i) => i * 7));
  });

  it('a sync call while async calls are in flight, and a token refresh among them', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    await client.setVariable('a', 'x');
    const inFlight = [client.getVariable('a'), client.refreshToken(), client.getVariable('a')];
    assert.equal(client.sync.getVariable('a'), 'x');
    const [first, , last] = await Promise.all(inFlight);
    assert.equal(first, 'x');
    assert.equal(last, 'x');
    assert.equal(client.sync.getVariable('a'), 'x');
  });

  it('works in worker threads, which exit cleanly', async () => {
    const exec = sidecar.create();
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Cronium } = require(${JSON.stringify(require.resolve('cronium'))});
      (async () => {
        const c = new Cronium(workerData.options);
        await c.setVariable(workerData.key, workerData.n);
        let sum = 0;
        for (let i = 0; i < 200; i++) sum += await c.getVariable(workerData.key);
        parentPort.postMessage(sum);
      })();`;
    const runs = await Promise.all(
      [1, 2, 3].map((n) => inWorker(source, { options: optionsFor(exec), key: `w${n}`, n })),
    );
    for (const [i, { messages, code }] of runs.entries()) {
      assert.equal(code, 0);
      assert.deepStrictEqual(messages, [(i + 1) * 200]);
    }
  });

  it('a worker terminated with a call in flight goes away cleanly', async () => {
    const exec = sidecar.create();
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Cronium } = require(${JSON.stringify(require.resolve('cronium'))});
      const c = new Cronium(workerData.options);
      c.setVariable('t', 1).then(() => parentPort.postMessage('ready'));
      parentPort.on('message', () => {
        c.getVariable('t'); // never answered: the sidecar is stopped
        parentPort.postMessage('waiting');
      });`;
    let run;
    try {
      run = await inWorker(source, { options: { ...optionsFor(exec), timeout: 60000 } }, (m, worker) => {
        if (m === 'ready') stopSidecar().then(() => worker.postMessage('go'));
        if (m === 'waiting') setTimeout(() => worker.terminate(), 100);
      });
    } finally {
      sidecar.child.kill('SIGCONT');
    }
    assert.deepStrictEqual(run.messages, ['ready', 'waiting']);
    assert.equal(run.code, 1, 'terminate() ends a worker with exit code 1');
    // This process is still fine, and so is the sidecar.
    const client = new Cronium(optionsFor(exec));
    assert.equal(await client.getVariable('t'), 1);
  });
});
