'use strict';
// Every function of the API against a real sidecar: values keep their types, errors are
// CroniumErrors with the right fields, sync and async agree, many calls can be in flight.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Sidecar, optionsFor, runNode, PACKAGE } = require('./helpers.js');

const cronium = require('cronium');
const { Cronium, CroniumError } = cronium;

let sidecar;
let exec;

before(async () => {
  sidecar = await Sidecar.start();
  exec = sidecar.create([
    '--event',
    'nightly-report',
    '--input',
    '{"n":0,"s":"","f":false,"z":null,"big":123456789012345678901234567890,"pi":3.14}',
    '--context',
    '{"region":"eu"}',
  ]);
  // The module-level API reads the environment on first use.
  Object.assign(process.env, exec.env);
});

after(() => sidecar?.stop());

/** Asserts `promiseOrFn` fails with a CroniumError with these fields. */
async function rejects(promiseOrFn, fields) {
  let error;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof CroniumError, `expected a CroniumError, got ${error}`);
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'CroniumError');
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof RegExp) assert.match(String(error[k]), v, `${k} of ${error.message}`);
    else assert.equal(error[k], v, `${k} of ${error.message}`);
  }
  assert.equal(typeof error.message, 'string');
  assert.equal(typeof error.retryable, 'boolean');
  return error;
}

// Values that must survive a round trip exactly, with their JS types.
const VALUES = {
  zero: 0,
  negative: -17,
  float: 1.5,
  tiny: 5e-324,
  huge: 1e300,
  empty: '',
  text: 'héllo "quoted" \\ back\nslash ☃ 𝄞',
  no: false,
  yes: true,
  nothing: null,
  list: [0, '', false, null, [], {}],
  object: { a: 0, b: '', c: false, d: null, nested: { deep: [1, { x: 'y' }] } },
  maxSafe: Number.MAX_SAFE_INTEGER,
  minSafe: Number.MIN_SAFE_INTEGER,
  unsafe: 2n ** 53n + 1n,
  bigPositive: 2n ** 64n,
  bigNegative: -(2n ** 70n),
  bigInside: { id: 12345678901234567890n, list: [-99999999999999999999n, 99999999999999999999n], text: '12345678901234567890' },
  digitsInStrings: { s: '1234567890123456789012345', n: 1 },
  floatWithManyDigits: 0.12345678901234568,
};

describe('values keep their types', () => {
  for (const [name, value] of Object.entries(VALUES)) {
    it(`${name} round-trips through setVariable/getVariable`, async () => {
      const key = `value.${name}`;
      await cronium.setVariable(key, value);
      assert.deepStrictEqual(await cronium.getVariable(key), value);
      assert.deepStrictEqual(cronium.sync.getVariable(key), value);
      cronium.sync.setVariable(key, value);
      assert.deepStrictEqual(await cronium.variable(key).get(), value);
    });
  }

  it('safe integers are numbers; integers beyond 2^53 are BigInt, whoever wrote them', async () => {
    await cronium.setVariable('types', { a: 9007199254740991, b: 9007199254740993n, c: 1e20, d: 2.5, e: 1n, f: 1.5e300 });
    const v = await cronium.getVariable('types');
    assert.equal(v.a, 9007199254740991);
    assert.equal(v.b, 9007199254740993n);
    // JSON.stringify writes the Number 1e20 as its 21 digits: an integer beyond 2^53, so
    // it reads back as the exact BigInt (documented in the README).
    assert.equal(v.c, 100000000000000000000n);
    assert.equal(v.d, 2.5);
    assert.equal(v.e, 1, 'a BigInt in the safe range reads back as a Number');
    assert.equal(v.f, 1.5e300, 'a number with an exponent stays a Number');
  });

  it('a big integer written by another client is read exactly, and ours reach it exactly', async () => {
    sidecar.admin(['variables', 'set', '--user', exec.userId, 'from.admin', '{"n":123456789012345678901234567890}']);
    assert.deepStrictEqual(await cronium.getVariable('from.admin'), { n: 123456789012345678901234567890n });
    await cronium.setVariable('to.admin', [18446744073709551616n, -1]);
    const shown = sidecar.admin(['variables', 'get', '--user', exec.userId, 'to.admin']);
    assert.match(shown.replace(/\s/g, ''), /\[18446744073709551616,-1\]/);
  });

  it('a "__proto__" key is plain data, as JSON.parse makes it', async () => {
    const value = JSON.parse('{"__proto__":{"polluted":1},"big":12345678901234567890}');
    await cronium.setVariable('proto', value);
    const back = await cronium.getVariable('proto');
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal({}.polluted, undefined);
    assert.deepStrictEqual(Object.keys(back), ['__proto__', 'big']);
  });

  it('a missing variable is undefined, a stored null is null', async () => {
    assert.equal(await cronium.getVariable('never.set'), undefined);
    assert.equal(cronium.sync.getVariable('never.set'), undefined);
    assert.equal(await cronium.getVariableInfo('never.set'), undefined);
    await cronium.setVariable('is.null', null);
    assert.equal(await cronium.getVariable('is.null'), null);
  });

  it('the input keeps 0, "", false, null and big integers', async () => {
    const expected = { n: 0, s: '', f: false, z: null, big: 123456789012345678901234567890n, pi: 3.14 };
    assert.deepStrictEqual(await cronium.input(), expected);
    assert.deepStrictEqual(cronium.sync.input(), expected);
  });

  it('an execution without input has null input', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    assert.equal(await client.input(), null);
    assert.equal(client.sync.input(), null);
  });

  it('values that are not JSON are refused before any request', async () => {
    await rejects(cronium.setVariable('k', undefined), { code: 'invalid_json', kind: 'validation' });
    await rejects(cronium.output(() => 1), { code: 'invalid_json', kind: 'validation' });
    const cyclic = {};
    cyclic.self = cyclic;
    await rejects(cronium.setVariable('k', cyclic), { code: 'invalid_json', kind: 'validation' });
    await rejects(() => cronium.sync.output(Symbol('x')), { code: 'invalid_json' });
  });
});

describe('every call', () => {
  it('output / getOutput, last write wins', async () => {
    await cronium.output({ first: true });
    await cronium.output({ id: 7, ok: true, big: 2n ** 64n });
    assert.deepStrictEqual(await cronium.getOutput(), { id: 7, ok: true, big: 2n ** 64n });
    cronium.sync.output([1, 2]);
    assert.deepStrictEqual(cronium.sync.getOutput(), [1, 2]);
    assert.deepStrictEqual(sidecar.show(exec.id).output, [1, 2]);
  });

  it('setVariable answers the new version (a number, as in every language); getVariableInfo shows it', async () => {
    const version = await cronium.setVariable('versioned', 'a');
    assert.equal(typeof version, 'number');
    const next = await cronium.setVariable('versioned', 'b');
    assert.equal(next, version + 1);
    assert.equal(cronium.sync.setVariable('versioned', 'c'), next + 1);
    assert.equal(await cronium.variable('versioned').set('b'), next + 2);
    const info = await cronium.getVariableInfo('versioned');
    assert.equal(info.key, 'versioned');
    assert.equal(info.value, 'b');
    assert.equal(info.version, next + 2);
    assert.match(info.updatedAt, /^\d{4}-\d\d-\d\dT/);
    assert.deepStrictEqual(cronium.sync.getVariableInfo('versioned'), info);
    assert.deepStrictEqual(await cronium.variable('versioned').info(), info);
    // The earlier names stay as aliases.
    assert.deepStrictEqual(await cronium.getVariableEntry('versioned'), info);
    assert.deepStrictEqual(cronium.sync.getVariableEntry('versioned'), info);
    assert.deepStrictEqual(await cronium.variable('versioned').getEntry(), info);
  });

  it('compare-and-set with ifVersion', async () => {
    const first = await cronium.setVariable('cas', 1, { ifVersion: 0 });
    await rejects(cronium.setVariable('cas', 2, { ifVersion: 0 }), {
      code: 'version_conflict',
      status: 409,
      kind: 'conflict',
      retryable: false,
    });
    const second = await cronium.setVariable('cas', 2, { ifVersion: first });
    await rejects(() => cronium.sync.setVariable('cas', 3, { ifVersion: first }), { code: 'version_conflict' });
    await rejects(cronium.deleteVariable('cas', { ifVersion: first }), { code: 'version_conflict' });
    assert.equal(await cronium.deleteVariable('cas', { ifVersion: second }), true);
    await rejects(cronium.setVariable('cas', 1, { ifVersion: -1 }), { code: 'invalid_header', kind: 'validation' });
    await rejects(cronium.setVariable('cas', 1, { ifVersion: 'x' }), { code: 'invalid_header' });
  });

  it('deleteVariable says whether it existed; listVariables lists keys sorted', async () => {
    await cronium.setVariable('list.b', 1);
    await cronium.setVariable('list.a', 1);
    const keys = await cronium.listVariables();
    assert.ok(keys.includes('list.a') && keys.includes('list.b'));
    assert.deepStrictEqual(keys, [...keys].sort());
    assert.deepStrictEqual(cronium.sync.listVariables(), keys);
    assert.equal(await cronium.deleteVariable('list.a'), true);
    assert.equal(await cronium.deleteVariable('list.a'), false);
    assert.equal(cronium.sync.deleteVariable('list.b'), true);
    assert.equal(await cronium.variable('list.b').delete(), false);
    assert.ok(!(await cronium.listVariables()).includes('list.a'));
  });

  it('CroniumVariable get / set', async () => {
    const counter = cronium.variable('runs');
    assert.equal(counter.key, 'runs');
    await counter.set(((await counter.get()) ?? 0) + 1);
    await counter.set(((await counter.get()) ?? 0) + 1);
    assert.equal(await counter.get(), 2);
  });

  it('setCondition / getCondition', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    assert.equal(await client.getCondition(), null);
    await client.setCondition(true);
    assert.equal(await client.getCondition(), true);
    client.sync.setCondition(false);
    assert.equal(client.sync.getCondition(), false);
    await rejects(client.setCondition('yes'), { code: 'invalid_body', kind: 'validation' });
    await rejects(() => client.sync.setCondition(1), { code: 'invalid_body' });
  });

  it('getContext, and its earlier names getEventContext / event', async () => {
    const context = await cronium.getContext();
    assert.equal(context.executionId, exec.id);
    assert.equal(context.userId, exec.userId);
    assert.equal(context.eventName, 'nightly-report');
    assert.equal(context.region, 'eu');
    assert.equal(context.attempt, 1);
    assert.deepStrictEqual(await cronium.event(), context);
    assert.deepStrictEqual(await cronium.getEventContext(), context);
    assert.deepStrictEqual(cronium.sync.getContext(), context);
    assert.deepStrictEqual(cronium.sync.getEventContext(), context);
    assert.deepStrictEqual(cronium.sync.event(), context);
  });

  it('refreshToken keeps the client working', async () => {
    await cronium.refreshToken();
    assert.equal(typeof (await cronium.listVariables()).length, 'number');
  });

  it('a Cronium instance with explicit options, beside the environment', async () => {
    const other = sidecar.create();
    const client = new Cronium(optionsFor(other));
    assert.equal(client.endpoint, `unix:${other.env.CRONIUM_RUNTIME_SOCKET}`);
    await client.setVariable('mine', 'other user');
    assert.equal(await client.getVariable('mine'), 'other user');
    assert.equal(await cronium.getVariable('mine'), undefined, 'variables belong to the user');
    assert.equal((await client.getContext()).executionId, other.id);
    const withTimeout = new Cronium({ ...optionsFor(other), timeout: 5000, maxRetries: 0 });
    assert.equal(await withTimeout.getVariable('mine'), 'other user');
    assert.throws(() => new Cronium(7), TypeError);
  });
});

describe('tool actions', () => {
  // The test user has no credential for any tool.
  const toolError = { kind: 'tool_action', code: 'tool_not_configured', status: 404 };

  it('executeToolAction maps the server error to a tool_action CroniumError', async () => {
    const err = await rejects(
      cronium.executeToolAction(
        { tool: 'slack', action: 'slack-send-message', params: { text: 'hi', n: 0 } },
        { idempotencyKey: 'node-test-1' },
      ),
      toolError,
    );
    assert.equal(err.retryable, false);
  });

  it('sendSlackMessage, sendDiscordMessage, sendEmail (the signatures of every language) and the sync variant', async () => {
    await rejects(cronium.sendSlackMessage('hi', { channel: '#alerts' }, { idempotencyKey: 'k1' }), toolError);
    await rejects(cronium.sendDiscordMessage('hi', { embeds: [] }), toolError);
    await rejects(cronium.sendEmail('a@example.com', 's', 'b', { cc: ['c@example.com'] }), toolError);
    await rejects(cronium.sendEmail(['a@example.com', 'b@example.com'], 's', 'b'), toolError);
    // Extra fields must be an object: refused before any I/O.
    await rejects(cronium.sendSlackMessage('hi', '#alerts'), { code: 'invalid_body', kind: 'validation' });
    await rejects(cronium.sendEmail('a@example.com', 's', 'b', ['x']), { code: 'invalid_body' });
    // The earlier one-object forms still work.
    await rejects(cronium.sendSlackMessage({ text: 'hi' }), toolError);
    await rejects(cronium.sendDiscordMessage({ content: 'hi' }, { idempotencyKey: 'k2' }), toolError);
    await rejects(cronium.sendEmail({ to: 'a@example.com', subject: 's', body: 'b' }), toolError);
    await rejects(() => cronium.sync.executeToolAction({ tool: 'webhook', action: 'request', params: {} }), toolError);
  });

  it('the convenience calls send the payloads client-core builds (the same as Python)', async () => {
    const http = require('node:http');
    const got = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        got.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const exec = sidecar.create();
      const base = `http://127.0.0.1:${server.address().port}`;
      for (const tool of ['slack', 'discord']) {
        sidecar.admin(['tools', 'add', '--user', exec.userId, '--tool', tool, '--config', '-'], {
          input: JSON.stringify({ webhook_url: `${base}/hook/${tool}-secret-abcdefghijkl` }),
        });
      }
      const client = new Cronium(optionsFor(exec));
      await client.sendSlackMessage('hi', { channel: '#ops', username: 'bot' }, { idempotencyKey: 'node-1' });
      await client.sendSlackMessage('plain');
      await client.sendDiscordMessage('yo', { username: 'bot' });
      await client.sendSlackMessage({ text: 'earlier form' });
      assert.deepStrictEqual(got, [
        { text: 'hi', channel: '#ops', username: 'bot' },
        { text: 'plain' },
        { content: 'yo', username: 'bot' },
        { text: 'earlier form' },
      ]);
    } finally {
      server.close();
    }
  });

  it('sendTeamsMessage, createTrelloCard, appendSheetRows and listTools', async () => {
    const http = require('node:http');
    const got = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        got.push(JSON.parse(body));
        res.end('1');
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const exec = sidecar.create();
      const url = `http://127.0.0.1:${server.address().port}/webhookb2/teams-secret-abcdefghijkl`;
      sidecar.admin(['tools', 'add', '--user', exec.userId, '--tool', 'teams', '--config', '-'], {
        input: JSON.stringify({ webhookUrl: url }),
      });
      const client = new Cronium(optionsFor(exec));
      const result = await client.sendTeamsMessage('deployed', { title: 'CI' }, { idempotencyKey: 'node-t1' });
      assert.equal(result.tool, 'teams');
      assert.equal(got[0]['@type'], 'MessageCard');
      assert.equal(got[0].title, 'CI');
      assert.deepStrictEqual(got[0].sections, [{ text: 'deployed' }]);
      const tools = await client.listTools();
      assert.deepStrictEqual(tools, [{ tool: 'teams', credentials: ['default'], actions: ['send-message', 'send-card'] }]);
      assert.deepStrictEqual(client.sync.listTools(), tools);
      // No Trello or Google credential: the calls reach the sidecar and say so.
      await rejects(client.createTrelloCard('list1', 'Fix', { desc: 'd' }), { code: 'tool_not_configured' });
      await rejects(client.appendSheetRows('Log!A:B', [['a', 1]], { spreadsheetId: 's1' }), { code: 'tool_not_configured' });
      // The registry's schema names the field.
      await rejects(client.sendTeamsMessage('x', { color: 5 }), (err) => err.code === 'tool_params_invalid' && /color/.test(err.message));
    } finally {
      server.close();
    }
  });

  it('bad requests are refused before any I/O', async () => {
    await rejects(cronium.executeToolAction({ tool: 'slack' }), { code: 'invalid_body', kind: 'validation' });
    await rejects(cronium.executeToolAction(null), { code: 'invalid_body' });
    await rejects(cronium.executeToolAction({ tool: 'a', action: 'b' }, { idempotencyKey: 5 }), { code: 'invalid_header' });
    await rejects(cronium.executeToolAction({ tool: 'a', action: 'b' }, { idempotencyKey: 'bad\nkey' }), {
      code: 'invalid_header',
    });
  });
});

describe('errors', () => {
  it('an invalid key fails before any request (invalid_key, no status)', async () => {
    await rejects(cronium.getVariable('bad key'), { code: 'invalid_key', kind: 'validation', status: null });
    await rejects(cronium.setVariable('a/b', 1), { code: 'invalid_key' });
    await rejects(cronium.getVariable(42), { code: 'invalid_key' });
    await rejects(() => cronium.sync.getVariable(''), { code: 'invalid_key' });
    assert.throws(() => cronium.variable(null), CroniumError);
  });

  it('the stack names the caller', async () => {
    const err = await rejects(cronium.getVariable('bad key'), { code: 'invalid_key' });
    assert.match(err.stack, /api\.test\.js/);
  });

  it('a token without the scope: 403 scope_insufficient (auth)', async () => {
    const readOnly = new Cronium(optionsFor(sidecar.create(['--scope', 'input:read'])));
    assert.equal(await readOnly.input(), null);
    await rejects(readOnly.setVariable('k', 1), { code: 'scope_insufficient', status: 403, kind: 'auth', retryable: false });
    await rejects(() => readOnly.sync.listVariables(), { code: 'scope_insufficient' });
  });

  it('no sidecar: connection_failed, retryable', async () => {
    const client = new Cronium({ url: 'http://127.0.0.1:9', token: 't', maxRetries: 0, timeout: 2000 });
    await rejects(client.getVariable('k'), { code: 'connection_failed', kind: 'unavailable', retryable: true });
    await rejects(() => client.sync.getVariable('k'), { code: 'connection_failed' });
  });

  it('not configured: a not_configured error naming the variables, at the first call', async () => {
    const script = `
      const c = require('cronium');
      c.input().then(() => console.log('no error'), (e) => {
        console.log(JSON.stringify({ name: e.name, code: e.code, kind: e.kind, message: e.message }));
      });`;
    const { code, stdout, stderr } = await runNode(['-e', script], { CRONIUM_RUNTIME_SOCKET: '/nonexistent/rt.sock' }, { cwd: PACKAGE });
    assert.equal(code, 0, stderr);
    const e = JSON.parse(stdout);
    assert.equal(e.name, 'CroniumError');
    assert.equal(e.code, 'not_configured');
    assert.equal(e.kind, 'config');
    assert.match(e.message, /CRONIUM_RUNTIME_SOCKET/);
    assert.throws(() => new Cronium({ token: 't', timeout: -1, socket: sidecar.socket }).sync.input(), {
      code: 'not_configured',
    });
  });
});

describe('concurrency', () => {
  it('many calls in flight at once all settle with the right values', async () => {
    const client = new Cronium(optionsFor(sidecar.create()));
    const n = 2000;
    const writes = await Promise.all(Array.from({ length: n }, (_, i) => client.setVariable(`c.${i % 100}`, i)));
    assert.equal(writes.length, n);
    const reads = await Promise.all(Array.from({ length: 100 }, (_, i) => client.getVariable(`c.${i}`)));
    for (const [i, v] of reads.entries()) assert.equal(v % 100, i);
    const mixed = await Promise.all(
      Array.from({ length: n }, (_, i) => (i % 3 === 0 ? client.getVariable('c.1') : i % 3 === 1 ? client.input() : client.getCondition())),
    );
    for (const [i, v] of mixed.entries()) {
      if (i % 3 === 0) assert.equal(v % 100, 1);
      else if (i % 3 === 1) assert.equal(v, null);
      else assert.equal(v, null);
    }
  });

  it('calls never block the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = Date.now();
    while (Date.now() - started < 300) await cronium.getVariable('runs');
    clearInterval(timer);
    assert.ok(ticks > 50, `the event loop ran timers ${ticks} times in 300 ms of calls`);
  });

  it('a script exits by itself when its calls are done (nothing keeps Node alive)', async () => {
    const script = `
      const c = require('cronium');
      (async () => { await c.setVariable('exit.test', 1); console.log(await c.getVariable('exit.test')); })();`;
    const started = Date.now();
    const { code, stdout, stderr } = await runNode(['-e', script], exec.env, { cwd: PACKAGE });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '1');
    assert.ok(Date.now() - started < 5000);
  });

  it('a top-level await on a call keeps Node alive until it settles', async () => {
    const script = `import * as c from 'cronium';\nconst i = await c.input();\nconsole.log(i.n, typeof i.big);\n`;
    const { code, stdout, stderr } = await runNode(['--input-type=module', '-e', script], exec.env, { cwd: PACKAGE });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), '0 bigint');
  });
});
