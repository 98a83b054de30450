'use strict';
// `cronium`: the Cronium runtime for Node.js scripts.
//
// A small facade over the native addon (cronium.<platform>.node, built from src/ with
// napi-rs over the Rust client-core). The facade converts values (JSON text <-> JS
// values, see json.js) and errors (native -> CroniumError, see error.js); every behaviour
// (transport, auth, retries, streams, watches) lives in client-core. index.d.ts is the
// documented API.

const path = require('node:path');
const fs = require('node:fs');
const { CroniumError, NativeFailure, fromNative } = require('./error.js');
const { parse, stringify } = require('./json.js');

// ----- the native addon ---------------------------------------------------------------

let native = null;

/**
 * Loads the addon on first use, so requiring the package costs nothing until a call. The
 * addon is `cronium.<platform>.node` beside this file (a build, or a package bundling the
 * addons) or napi's platform package `cronium-<platform>`. On Linux the glibc build is
 * tried first, then the musl one: a build for the other C library fails to load, and the
 * next candidate is tried.
 */
function loadNative() {
  if (native !== null) return native;
  const { platform, arch } = process;
  const platforms =
    platform === 'linux' ? [`linux-${arch}-gnu`, `linux-${arch}-musl`] : [`${platform}-${arch}`];
  const candidates = [];
  for (const p of platforms) {
    const file = path.join(__dirname, `cronium.${p}.node`);
    if (fs.existsSync(file)) candidates.push(file);
    else {
      try {
        candidates.push(require.resolve(`cronium-${p}`));
      } catch {
        // no platform package for this one
      }
    }
  }
  let firstError = null;
  for (const file of candidates) {
    try {
      native = require(file);
      return native;
    } catch (e) {
      firstError ??= e;
    }
  }
  if (firstError !== null) {
    throw new CroniumError(`the Cronium native addon failed to load: ${firstError.message}`, {
      code: 'not_configured',
      kind: 'config',
    });
  }
  throw new CroniumError(
    `the Cronium native addon is not built for ${platform}-${arch}: looked for ${platforms.map((p) => `cronium.${p}.node`).join(' or ')} in ${__dirname} and the packages ${platforms.map((p) => `cronium-${p}`).join(', ')}; run \`make node\` in the cronium-runtime repository`,
    { code: 'not_configured', kind: 'config' },
  );
}

let codes = null;

/**
 * Every error code of the protocol with its kind, status and retry rule (client-core's
 * list, read from the addon on first use).
 */
function errorCodes() {
  if (codes === null) codes = Object.freeze(loadNative().errorCodes().map((c) => Object.freeze({ ...c, status: c.status ?? null })));
  return codes;
}

// ----- calls in flight ----------------------------------------------------------------
//
// An async native call takes an id and returns at once; its outcome comes back through
// `dispatch(id, ok, value)` on the JS thread (see src/exec.rs). The addon's channel does
// not keep Node alive, so a timer that never fires is ref'ed exactly while calls are in
// flight: a script awaiting a call does not exit early, an idle one exits when done.

/** id -> { resolve, reject } of the Promise of each call in flight. */
const calls = new Map();
let lastId = 0;
let keepAlive = null;

function dispatch(id, ok, value) {
  const call = calls.get(id);
  if (call === undefined) return;
  calls.delete(id);
  if (calls.size === 0) keepAlive.unref();
  if (ok) call.resolve(value);
  else call.reject(new NativeFailure(value));
}

/**
 * Starts one native call (`start(id)`) and returns the Promise of its outcome. Rejects
 * with a NativeFailure: callers await it and map the error with fromNative.
 */
function submit(start) {
  return new Promise((resolve, reject) => {
    lastId = (lastId + 1) >>> 0;
    const id = lastId;
    start(id); // throws synchronously for bad arguments: the Promise rejects
    calls.set(id, { resolve, reject });
    if (calls.size === 1) {
      if (keepAlive === null) keepAlive = setInterval(() => {}, 0x7fffffff);
      keepAlive.ref();
    }
  });
}

/** `submit`, with the failure as a CroniumError thrown where the caller awaits. */
async function settle(start) {
  try {
    return await submit(start);
  } catch (err) {
    throw fromNative(err);
  }
}

// ----- argument checks ----------------------------------------------------------------

function checkKey(key) {
  if (typeof key !== 'string') {
    throw new CroniumError(`a variable key must be a string, got ${typeof key}`, {
      code: 'invalid_key',
      kind: 'validation',
    });
  }
  return key;
}

function ifVersionOf(options) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') {
    throw new CroniumError('options must be an object such as { ifVersion: 3 }', {
      code: 'invalid_body',
      kind: 'validation',
    });
  }
  const v = options.ifVersion;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number') {
    throw new CroniumError(`ifVersion must be a number, got ${typeof v}`, {
      code: 'invalid_header',
      kind: 'validation',
    });
  }
  return v;
}

/** `undefined` for a missing variable (the addon answers `null`), else the parsed JSON. */
function parseFound(text) {
  return text === null ? undefined : parse(text);
}

function checkCondition(condition) {
  if (typeof condition !== 'boolean') {
    throw new CroniumError(`the condition must be a boolean, got ${typeof condition}`, {
      code: 'invalid_body',
      kind: 'validation',
    });
  }
}

/** The native arguments of a tool action call. */
function toolCall(request, options) {
  const { tool, action, params = {} } = request ?? {};
  if (typeof tool !== 'string' || typeof action !== 'string') {
    throw new CroniumError('a tool action needs { tool, action } strings', {
      code: 'invalid_body',
      kind: 'validation',
    });
  }
  return { tool, action, json: stringify(params, 'the tool action params'), key: idempotencyKeyOf(options) };
}

/** The version in the native answer to a write (`{ key, version, updatedAt }`). */
function versionOf(text) {
  return JSON.parse(text).version;
}

/** The JSON text of a tool call's extra fields (`undefined`: none). */
function fieldsJson(fields, what) {
  if (fields === undefined || fields === null) return undefined;
  if (typeof fields !== 'object' || Array.isArray(fields)) {
    throw new CroniumError(`${what} must be an object of extra fields`, { code: 'invalid_body', kind: 'validation' });
  }
  return stringify(fields, what);
}

/** The idempotency key of `options`, checked. */
function idempotencyKeyOf(options) {
  const key = options?.idempotencyKey ?? undefined;
  if (key !== undefined && typeof key !== 'string') {
    throw new CroniumError('idempotencyKey must be a string', { code: 'invalid_header', kind: 'validation' });
  }
  return key;
}

/** A first argument that is an object: the earlier one-object form of a tool call. */
const isEarlierForm = (first) => first !== null && typeof first === 'object' && !Array.isArray(first);

// ----- variables ----------------------------------------------------------------------

/**
 * One variable of the user: get, set and subscribe to changes.
 * @template T
 */
class CroniumVariable {
  #client;

  /**
   * @param {Cronium} client
   * @param {string} key
   */
  constructor(client, key) {
    this.#client = client;
    this.key = checkKey(key);
  }

  /** The value, `undefined` when the variable does not exist. */
  get() {
    return this.#client.getVariable(this.key);
  }

  /** The value with its version, `undefined` when the variable does not exist. */
  info() {
    return this.#client.getVariableInfo(this.key);
  }

  /** @deprecated the earlier name of `info()`. */
  getEntry() {
    return this.info();
  }

  /** Stores a value (`{ ifVersion }` for compare-and-set); resolves to the new version. */
  set(value, options) {
    return this.#client.setVariable(this.key, value, options);
  }

  /** Deletes the variable; whether it existed. */
  delete(options) {
    return this.#client.deleteVariable(this.key, options);
  }

  /** Its changes as an async iterator; see {@link Cronium#watchVariable}. */
  watch() {
    return this.#client.watchVariable(this.key);
  }

  /**
   * Calls `callback(value, change)` on every change from now on; returns the function
   * that stops it. While subscribed the process stays alive (like a timer).
   *
   * Failures are reported and never crash the process (the same in every language): a
   * callback that throws is reported and the subscription goes on; a watch the runtime
   * refuses for good (expired token, missing scope) is reported and ends it. Reported
   * means `onError(err)` when given, else one line on stderr.
   */
  subscribe(callback, options) {
    if (typeof callback !== 'function') throw new TypeError('subscribe needs a callback function');
    const { signal, onError } = options ?? {};
    const key = this.key;
    const report = (what, err) => {
      if (typeof onError === 'function') onError(err);
      else console.error(`cronium: ${what} ${JSON.stringify(key)}:`, err);
    };
    const n = this.#client._nativeClient();
    const watch = native.watchVariable(n, this.key);
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      signal?.removeEventListener('abort', stop);
      watch.close();
    };
    if (signal?.aborted) {
      stop();
      return stop;
    }
    signal?.addEventListener('abort', stop, { once: true });
    const run = async () => {
      for (;;) {
        let text;
        try {
          text = await settle((id) => watch.next(id));
        } catch (err) {
          stopped = true;
          throw err;
        }
        if (text === null) return;
        const change = parse(text);
        if (change.deleted) change.value = undefined;
        try {
          await callback(change.value, change);
        } catch (err) {
          report('a subscriber of', err);
        }
      }
    };
    run().catch((err) => report('the subscription ended for', err));
    return stop;
  }
}

// ----- the client ---------------------------------------------------------------------

/**
 * A client of the Cronium runtime for one execution. Configured from `options`, then the
 * environment (`CRONIUM_RUNTIME_SOCKET` / `CRONIUM_RUNTIME_API`,
 * `CRONIUM_EXECUTION_TOKEN`), on first use.
 */
class Cronium {
  #options;
  #client = null;

  /** @param {import('./index').ClientOptions} [options] */
  constructor(options) {
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw new TypeError('Cronium options must be an object');
    }
    this.#options = options ?? undefined;
    /** Blocking variants of the simple calls, for scripts written for the old helpers. */
    this.sync = new CroniumSync(this);
  }

  /** The native client, created on first use. @internal */
  _nativeClient() {
    if (this.#client === null) {
      const addon = loadNative();
      try {
        this.#client = addon.createClient(this.#options, dispatch);
      } catch (err) {
        throw fromNative(err);
      }
    }
    return this.#client;
  }

  /** Where this client connects: `unix:/path` or `http://host:port`. */
  get endpoint() {
    const n = this._nativeClient();
    return native.endpoint(n);
  }

  /** The execution's input (`null` when it has none). */
  async input() {
    const n = this._nativeClient();
    return parse(await settle((id) => native.input(n, id)));
  }

  /** Sets the execution's output (last write wins). */
  async output(data) {
    const json = stringify(data, 'the output');
    const n = this._nativeClient();
    await settle((id) => native.output(n, id, json));
  }

  /** The output set so far (`null` when none). */
  async getOutput() {
    const n = this._nativeClient();
    return parse(await settle((id) => native.getOutput(n, id)));
  }

  /** A variable's value; `undefined` when it does not exist. */
  async getVariable(key) {
    checkKey(key);
    const n = this._nativeClient();
    return parseFound(await settle((id) => native.getVariable(n, id, key)));
  }

  /** A variable with its version (`{ key, value, version, updatedAt }`), or `undefined`. */
  async getVariableInfo(key) {
    checkKey(key);
    const n = this._nativeClient();
    return parseFound(await settle((id) => native.getVariableEntry(n, id, key)));
  }

  /** @deprecated the earlier name of `getVariableInfo`. */
  getVariableEntry(key) {
    return this.getVariableInfo(key);
  }

  /**
   * Stores a variable and resolves to its new version (a number); `{ ifVersion }` makes it
   * a compare-and-set (0: only if absent).
   */
  async setVariable(key, value, options) {
    checkKey(key);
    const json = stringify(value, `the value of ${key}`);
    const ifVersion = ifVersionOf(options);
    const n = this._nativeClient();
    return versionOf(await settle((id) => native.setVariable(n, id, key, json, ifVersion)));
  }

  /** Deletes a variable; whether it existed. */
  async deleteVariable(key, options) {
    checkKey(key);
    const ifVersion = ifVersionOf(options);
    const n = this._nativeClient();
    return settle((id) => native.deleteVariable(n, id, key, ifVersion));
  }

  /** The keys of the user's variables, sorted. */
  async listVariables() {
    const n = this._nativeClient();
    return settle((id) => native.listVariables(n, id));
  }

  /**
   * The changes of a variable, `for await (const change of watchVariable(key))`: each is
   * `{ key, value, version, updatedAt, deleted }` (`value` undefined and `version` null for
   * a delete). The watch opens when the iteration starts; leaving the loop closes it. Ends
   * with a CroniumError when the runtime refuses the watch for good.
   */
  async *watchVariable(key) {
    checkKey(key);
    const n = this._nativeClient();
    const watch = native.watchVariable(n, key);
    try {
      for (;;) {
        const text = await settle((id) => watch.next(id));
        if (text === null) return;
        const change = parse(text);
        if (change.deleted) change.value = undefined;
        yield change;
      }
    } finally {
      watch.close();
    }
  }

  /** One variable as an object with get / set / subscribe. */
  variable(key) {
    return new CroniumVariable(this, key);
  }

  /** Sets the workflow condition. */
  async setCondition(condition) {
    checkCondition(condition);
    const n = this._nativeClient();
    await settle((id) => native.setCondition(n, id, condition));
  }

  /** The condition set so far, `null` when none. */
  async getCondition() {
    const n = this._nativeClient();
    return settle((id) => native.getCondition(n, id));
  }

  /** The event context: execution, user, event, trigger, attempt, ... */
  async getContext() {
    const n = this._nativeClient();
    return parse(await settle((id) => native.context(n, id)));
  }

  /** @deprecated the earlier name of `getContext`. */
  getEventContext() {
    return this.getContext();
  }

  /** Alias of `getContext` (the old helpers' name). */
  event() {
    return this.getContext();
  }

  /** Asks for a fresh token now (calls refresh on their own before it expires). */
  async refreshToken() {
    const n = this._nativeClient();
    await settle((id) => native.refreshToken(n, id));
  }

  /**
   * The input as a stream of records: `for await (const record of streamInput())`.
   * Records arrive as they are read; memory stays bounded whatever the input's size.
   */
  async *streamInput() {
    const n = this._nativeClient();
    const reader = native.streamInput(n);
    try {
      for (;;) {
        const batch = await settle((id) => reader.nextBatch(id));
        if (batch === null) return;
        // One line at a time: memory holds one batch of text plus one record.
        for (const line of batch.split('\n')) yield parse(line);
      }
    } finally {
      reader.close();
    }
  }

  /**
   * The output stream as a WHATWG WritableStream of records (any JSON value each).
   * `await stream.close()` ends it; `stream.summary` resolves to what the server stored.
   */
  streamOutput() {
    const n = this._nativeClient();
    const writer = native.streamOutput(n);
    // Records go to the addon in NDJSON batches of about this many bytes (client-core's value).
    const flushBytes = loadNative().WRITE_BATCH_BYTES;
    let pending = '';
    let settleSummary;
    const summary = new Promise((resolve, reject) => {
      settleSummary = { resolve, reject };
    });
    summary.catch(() => {}); // an error only for whoever awaits it
    const failed = (err) => {
      settleSummary.reject(err);
      return err;
    };
    const flush = async () => {
      if (pending === '') return;
      const batch = pending;
      pending = '';
      try {
        await settle((id) => writer.writeBatch(id, batch));
      } catch (err) {
        throw failed(err);
      }
    };
    const stream = new WritableStream({
      async start() {
        try {
          await settle((id) => writer.open(id));
        } catch (err) {
          throw failed(err);
        }
      },
      async write(record) {
        let line;
        try {
          line = stringify(record, 'an output record');
        } catch (err) {
          writer.abort();
          throw failed(err);
        }
        pending = pending === '' ? line : `${pending}\n${line}`;
        if (pending.length >= flushBytes) await flush();
      },
      async close() {
        await flush();
        let text;
        try {
          text = await settle((id) => writer.close(id));
        } catch (err) {
          throw failed(err);
        }
        settleSummary.resolve(JSON.parse(text));
      },
      abort(reason) {
        pending = '';
        writer.abort();
        failed(
          reason instanceof Error
            ? reason
            : new CroniumError('the output stream was aborted', {
                code: 'stream_closed',
                kind: 'protocol',
                cause: reason,
              }),
        );
      },
    });
    Object.defineProperty(stream, 'summary', { value: summary, enumerable: true });
    return stream;
  }

  /**
   * Runs a tool action with the platform's credentials. The call carries an idempotency
   * key (generated when not given), so retries never run it twice.
   */
  async executeToolAction(request, options) {
    const { tool, action, json, key } = toolCall(request, options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.executeToolAction(n, id, tool, action, json, key)));
  }

  // The tool convenience calls: client-core builds the tool, action and params (the same
  // as every language's); the named arguments win over extra fields of the same name.

  /**
   * Posts `text` to the user's Slack webhook; `fields` adds fields (`channel`, `blocks`,
   * `username`, ...). The earlier form `sendSlackMessage({ text, ... }, options)` still works.
   */
  async sendSlackMessage(text, fields, options) {
    if (isEarlierForm(text)) return this.executeToolAction({ tool: 'slack', action: 'slack-send-message', params: text }, fields);
    const json = fieldsJson(fields, 'the Slack fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.sendSlackMessage(n, id, String(text), json, key)));
  }

  /**
   * Posts `content` to the user's Discord webhook; `fields` adds fields (`embeds`,
   * `username`, ...). The earlier form `sendDiscordMessage({ content, ... }, options)` still works.
   */
  async sendDiscordMessage(content, fields, options) {
    if (isEarlierForm(content)) return this.executeToolAction({ tool: 'discord', action: 'discord-send-message', params: content }, fields);
    const json = fieldsJson(fields, 'the Discord fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.sendDiscordMessage(n, id, String(content), json, key)));
  }

  /**
   * Posts `message` to the user's Microsoft Teams webhook; `fields` adds fields of the
   * `send-message` action (`title`, `color`, `sections`, ...).
   */
  async sendTeamsMessage(message, fields, options) {
    const json = fieldsJson(fields, 'the Teams fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.sendTeamsMessage(n, id, String(message), json, key)));
  }

  /**
   * Creates a Trello card `name` in the list `listId`; `fields` adds fields of
   * `create-card` (`desc`, `pos`, `due`, `idMembers`, ...).
   */
  async createTrelloCard(listId, name, fields, options) {
    const json = fieldsJson(fields, 'the Trello fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.createTrelloCard(n, id, String(listId), String(name), json, key)));
  }

  /**
   * Appends `rows` (an array of arrays) after the table in `range` of a Google Sheet;
   * `fields` adds fields of `write-data` (`spreadsheetId`, `valueInputOption`).
   */
  async appendSheetRows(range, rows, fields, options) {
    const json = fieldsJson(fields, 'the Sheets fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.appendSheetRows(n, id, String(range), JSON.stringify(rows ?? []), json, key)));
  }

  /** The tools the user has credentials for: `[{ tool, credentials, actions }]`; never a secret. */
  async listTools() {
    const n = this._nativeClient();
    return parse(await settle((id) => native.listTools(n, id)));
  }

  /**
   * Sends an email through the user's SMTP credential: `to` is one address or a list;
   * `fields` adds fields (`cc`, `bcc`, `html`, ...). The earlier form
   * `sendEmail({ to, subject, body, ... }, options)` still works.
   */
  async sendEmail(to, subject, body, fields, options) {
    if (isEarlierForm(to)) return this.executeToolAction({ tool: 'email', action: 'send-email', params: to }, subject);
    const recipients = (Array.isArray(to) ? to : [to]).map(String);
    const json = fieldsJson(fields, 'the email fields');
    const key = idempotencyKeyOf(options);
    const n = this._nativeClient();
    return parse(await settle((id) => native.sendEmail(n, id, recipients, String(subject), String(body ?? ''), json, key)));
  }
}

/**
 * Blocking variants of the simple calls. They block the event loop for the duration of
 * one request: use them where a script has no async code (the old synchronous helpers).
 */
class CroniumSync {
  #client;

  /** @param {Cronium} client */
  constructor(client) {
    this.#client = client;
  }

  #call(call) {
    const n = this.#client._nativeClient();
    try {
      return call(n);
    } catch (err) {
      throw fromNative(err);
    }
  }

  input() {
    return parse(this.#call((n) => native.inputSync(n)));
  }

  output(data) {
    const json = stringify(data, 'the output');
    this.#call((n) => native.outputSync(n, json));
  }

  getOutput() {
    return parse(this.#call((n) => native.getOutputSync(n)));
  }

  getVariable(key) {
    checkKey(key);
    return parseFound(this.#call((n) => native.getVariableSync(n, key)));
  }

  getVariableInfo(key) {
    checkKey(key);
    return parseFound(this.#call((n) => native.getVariableEntrySync(n, key)));
  }

  /** @deprecated the earlier name of `getVariableInfo`. */
  getVariableEntry(key) {
    return this.getVariableInfo(key);
  }

  /** Stores a variable; returns its new version (a number). */
  setVariable(key, value, options) {
    checkKey(key);
    const json = stringify(value, `the value of ${key}`);
    const ifVersion = ifVersionOf(options);
    return versionOf(this.#call((n) => native.setVariableSync(n, key, json, ifVersion)));
  }

  deleteVariable(key, options) {
    checkKey(key);
    const ifVersion = ifVersionOf(options);
    return this.#call((n) => native.deleteVariableSync(n, key, ifVersion));
  }

  listVariables() {
    return this.#call((n) => native.listVariablesSync(n));
  }

  setCondition(condition) {
    checkCondition(condition);
    this.#call((n) => native.setConditionSync(n, condition));
  }

  getCondition() {
    return this.#call((n) => native.getConditionSync(n));
  }

  getContext() {
    return parse(this.#call((n) => native.contextSync(n)));
  }

  listTools() {
    return parse(this.#call((n) => native.listToolsSync(n)));
  }

  /** @deprecated the earlier name of `getContext`. */
  getEventContext() {
    return this.getContext();
  }

  event() {
    return this.getContext();
  }

  executeToolAction(request, options) {
    const { tool, action, json, key } = toolCall(request, options);
    return parse(this.#call((n) => native.executeToolActionSync(n, tool, action, json, key)));
  }
}

// ----- module-level API: one client from the environment, made on first use -----------

let defaultClient = null;

function client() {
  if (defaultClient === null) defaultClient = new Cronium();
  return defaultClient;
}

/** @type {CroniumSync} */
const sync = {
  input: () => client().sync.input(),
  output: (data) => client().sync.output(data),
  getOutput: () => client().sync.getOutput(),
  getVariable: (key) => client().sync.getVariable(key),
  getVariableInfo: (key) => client().sync.getVariableInfo(key),
  getVariableEntry: (key) => client().sync.getVariableInfo(key),
  setVariable: (key, value, options) => client().sync.setVariable(key, value, options),
  deleteVariable: (key, options) => client().sync.deleteVariable(key, options),
  listVariables: () => client().sync.listVariables(),
  setCondition: (condition) => client().sync.setCondition(condition),
  getCondition: () => client().sync.getCondition(),
  getContext: () => client().sync.getContext(),
  listTools: () => client().sync.listTools(),
  getEventContext: () => client().sync.getContext(),
  event: () => client().sync.getContext(),
  executeToolAction: (request, options) => client().sync.executeToolAction(request, options),
};
Object.freeze(sync);

module.exports = {
  input: () => client().input(),
  output: (data) => client().output(data),
  getOutput: () => client().getOutput(),
  getVariable: (key) => client().getVariable(key),
  getVariableInfo: (key) => client().getVariableInfo(key),
  getVariableEntry: (key) => client().getVariableInfo(key),
  setVariable: (key, value, options) => client().setVariable(key, value, options),
  deleteVariable: (key, options) => client().deleteVariable(key, options),
  listVariables: () => client().listVariables(),
  variable: (key) => client().variable(key),
  watchVariable: (key) => client().watchVariable(key),
  setCondition: (condition) => client().setCondition(condition),
  getCondition: () => client().getCondition(),
  getContext: () => client().getContext(),
  getEventContext: () => client().getContext(),
  event: () => client().getContext(),
  refreshToken: () => client().refreshToken(),
  streamInput: () => client().streamInput(),
  streamOutput: () => client().streamOutput(),
  executeToolAction: (request, options) => client().executeToolAction(request, options),
  sendSlackMessage: (...args) => client().sendSlackMessage(...args),
  sendDiscordMessage: (...args) => client().sendDiscordMessage(...args),
  sendEmail: (...args) => client().sendEmail(...args),
  sendTeamsMessage: (...args) => client().sendTeamsMessage(...args),
  createTrelloCard: (...args) => client().createTrelloCard(...args),
  appendSheetRows: (...args) => client().appendSheetRows(...args),
  listTools: () => client().listTools(),
  sync,
  Cronium,
  CroniumSync,
  CroniumVariable,
  CroniumError,
  errorCodes,
};
