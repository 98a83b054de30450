'use strict';
// streamInput (AsyncIterable) and streamOutput (WHATWG WritableStream) against a real
// sidecar, including streams far larger than the memory they may use.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sidecar, optionsFor } = require('./helpers.js');

const { Cronium, CroniumError } = require('cronium');

/** Size of the large streams (MB); 200 by default. */
const BIG_MB = Number(process.env.CRONIUM_NODE_TEST_STREAM_MB || 200);
/** How much the process may grow while streaming them. */
const RSS_BUDGET_MB = 120;

let sidecar;
let tmp;

before(async () => {
  sidecar = await Sidecar.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cronium-node-streams-'));
});

after(() => {
  sidecar?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Samples RSS until stopped; returns the peak growth over the start (MB). */
function watchRss() {
  global.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    return (peak - start) / 1e6;
  };
}

const RECORDS = [
  { i: 0, zero: 0, empty: '', no: false, nothing: null },
  'a string record',
  0,
  false,
  null,
  [1, [2, [3]]],
  { big: 12345678901234567890n, text: 'line\nbreak "quoted" ☃' },
  -(2n ** 64n),
  1.5,
];

/** The NDJSON text of records, BigInts as plain digits (what the server must store). */
function ndjson(records) {
  const line = (r) => JSON.stringify(r, (_k, x) => (typeof x === 'bigint' ? `@@${x}@@` : x)).replace(/"@@(-?\d+)@@"/g, '$1');
  return records.map(line).join('\n') + '\n';
}

describe('streamInput', () => {
  it('yields every record in order, with JSON types kept', async () => {
    const file = path.join(tmp, 'small.ndjson');
    fs.writeFileSync(file, ndjson(RECORDS));
    const client = new Cronium(optionsFor(sidecar.create(['--input-stream', file])));
    const seen = [];
    for await (const record of client.streamInput()) seen.push(record);
    assert.deepStrictEqual(seen, RECORDS);
  });

  it('an execution without an input stream yields nothing', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const seen = [];
    for await (const record of client.streamInput()) seen.push(record);
    assert.deepStrictEqual(seen, []);
  });

  it('breaking out early closes the stream; the client goes on working', async () => {
    const file = path.join(tmp, 'many.ndjson');
    fs.writeFileSync(file, Array.from({ length: 50000 }, (_, i) => JSON.stringify({ i })).join('\n'));
    const client = new Cronium(optionsFor(sidecar.create(['--input-stream', file])));
    let n = 0;
    for await (const record of client.streamInput()) {
      assert.equal(record.i, n);
      if (++n === 10) break;
    }
    assert.equal(n, 10);
    assert.equal(await client.input(), null);
    // A second iteration starts from the beginning again.
    let again = 0;
    for await (const record of client.streamInput()) again += record.i >= 0 ? 1 : 0;
    assert.equal(again, 50000);
  });

  it('refusals are CroniumErrors at the first iteration', async () => {
    const client = new Cronium(optionsFor(sidecar.create(['--scope', 'variables:read'])));
    await assert.rejects(
      async () => {
        for await (const _ of client.streamInput());
      },
      (err) => err instanceof CroniumError && err.code === 'scope_insufficient' && err.status === 403,
    );
  });

  it(`${BIG_MB} MB go through with bounded memory`, { timeout: 240000 }, async (t) => {
    const file = path.join(tmp, 'big.ndjson');
    const pad = 'x'.repeat(1000);
    const count = Math.ceil((BIG_MB * 1e6) / (pad.length + 20));
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < count; i += 1000) {
      const lines = [];
      for (let j = i; j < Math.min(count, i + 1000); j++) lines.push(`{"i":${j},"pad":"${pad}"}`);
      fs.writeSync(fd, lines.join('\n') + '\n');
    }
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    const client = new Cronium(optionsFor(sidecar.create(['--input-stream', file])));
    fs.rmSync(file);
    const stop = watchRss();
    const started = Date.now();
    let n = 0;
    for await (const record of client.streamInput()) {
      if (record.i !== n) assert.fail(`record ${n} came as ${record.i}`);
      n++;
    }
    const grew = stop();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(n, count);
    assert.ok(grew < RSS_BUDGET_MB, `RSS grew ${grew.toFixed(1)} MB reading ${(bytes / 1e6).toFixed(0)} MB`);
    t.diagnostic(`streamInput: ${(bytes / 1e6).toFixed(0)} MB, ${n} records in ${seconds.toFixed(2)} s; RSS +${grew.toFixed(1)} MB`);
  });
});

describe('streamOutput', () => {
  it('is a WritableStream whose records the server stores as NDJSON, exactly', async () => {
    const exec = sidecar.create();
    const client = new Cronium(optionsFor(exec));
    const stream = client.streamOutput();
    assert.ok(stream instanceof WritableStream);
    const writer = stream.getWriter();
    for (const record of RECORDS) await writer.write(record);
    await writer.close();
    const summary = await stream.summary;
    assert.equal(summary.records, RECORDS.length);
    assert.equal(typeof summary.bytes, 'number');
    const stored = sidecar.admin(['executions', 'output-stream', exec.id]);
    assert.equal(stored, ndjson(RECORDS));
  });

  it('works with pipeTo, and several streams append in turn', async () => {
    const exec = sidecar.create();
    const client = new Cronium(optionsFor(exec));
    const source = ReadableStream.from([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const out = client.streamOutput();
    await source.pipeTo(out);
    assert.equal((await out.summary).records, 3);
    const second = client.streamOutput();
    const w = second.getWriter();
    await w.write('more');
    await w.close();
    assert.equal((await second.summary).records, 1);
    const lines = sidecar.admin(['executions', 'output-stream', exec.id]).trim().split('\n');
    assert.deepStrictEqual(lines, ['{"n":1}', '{"n":2}', '{"n":3}', '"more"']);
  });

  it('a record that is not JSON errors the stream with a CroniumError', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const stream = client.streamOutput();
    const writer = stream.getWriter();
    await writer.write({ ok: 1 });
    await assert.rejects(writer.write(undefined), (err) => err instanceof CroniumError && err.code === 'invalid_json');
    await assert.rejects(stream.summary, CroniumError);
  });

  it('abort() abandons the stream', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const stream = client.streamOutput();
    const writer = stream.getWriter();
    await writer.write({ partial: true });
    await writer.abort(new Error('changed my mind'));
    await assert.rejects(stream.summary, /changed my mind/);
  });

  it('refusals surface on the writer', async () => {
    const client = new Cronium(optionsFor(sidecar.create(['--scope', 'input:read'])));
    const stream = client.streamOutput();
    const writer = stream.getWriter();
    const failure = (err) => err instanceof CroniumError && err.code === 'scope_insufficient';
    // The server refuses when the stream is opened; the refusal reaches the first write
    // or, at the latest, close().
    await assert.rejects(
      (async () => {
        await writer.write({ a: 1 });
        await writer.close();
      })(),
      failure,
    );
    await assert.rejects(stream.summary, failure);
  });

  it(`${BIG_MB} MB go out with bounded memory`, { timeout: 240000 }, async (t) => {
    const exec = sidecar.create();
    const client = new Cronium(optionsFor(exec));
    const pad = 'y'.repeat(1000);
    const count = Math.ceil((BIG_MB * 1e6) / (pad.length + 20));
    const stop = watchRss();
    const started = Date.now();
    const stream = client.streamOutput();
    const writer = stream.getWriter();
    for (let i = 0; i < count; i++) await writer.write({ i, pad });
    await writer.close();
    const summary = await stream.summary;
    const grew = stop();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(summary.records, count);
    assert.ok(summary.bytes >= count * pad.length);
    assert.ok(grew < RSS_BUDGET_MB, `RSS grew ${grew.toFixed(1)} MB writing ${(summary.bytes / 1e6).toFixed(0)} MB`);
    t.diagnostic(`streamOutput: ${(summary.bytes / 1e6).toFixed(0)} MB, ${count} records in ${seconds.toFixed(2)} s; RSS +${grew.toFixed(1)} MB`);
  });
});
