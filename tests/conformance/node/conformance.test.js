'use strict';
// The conformance cases (../cases.json) on the Node package `cronium`, against one sidecar
// started by the test kit. One test per case; cases Node cannot express are skipped with
// the reason the case file gives. Big integers are read with the package's own exact
// parser, so they arrive as BigInt on both sides of a comparison.

const { test, before, after } = require('node:test');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPO = path.resolve(__dirname, '..', '..', '..');
const { Cronium, CroniumError } = require(path.join(REPO, 'bindings', 'node'));
const json = require(path.join(REPO, 'bindings', 'node', 'json.js'));

const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
const KIT = process.env.CRONIUM_TESTKIT || path.join(TARGET, 'debug', 'cronium-testkit');
const CASES = json.parse(fs.readFileSync(path.join(__dirname, '..', 'cases.json'), 'utf8')).cases;

let kit;
let info;

before(async () => {
  const specFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cronium-conf-')), 'specs.json');
  fs.writeFileSync(specFile, json.stringify(CASES.map((c) => c.setup)));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CRONIUM_') || k === 'CRONIUM_BIN'));
  kit = spawn(KIT, ['--executions', `@${specFile}`], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: kit.stdout });
  const [line] = await Promise.race([
    require('node:events').once(lines, 'line'),
    require('node:events').once(kit, 'exit').then(([code]) => {
      throw new Error(`cronium-testkit exited (${code}); see its stderr`);
    }),
  ]);
  fs.rmSync(path.dirname(specFile), { recursive: true, force: true });
  info = JSON.parse(line);
});

after(async () => {
  if (!kit) return;
  const exited = require('node:events').once(kit, 'exit');
  kit.stdin.end(); // the kit stops the sidecar and removes its state dir
  await exited;
});

/** JSON equality with BigInt, types kept apart. */
function same(a, b) {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    return typeof a === typeof b && a === b;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

const UNSUPPORTED = Symbol('unsupported');
const show = (v) => json.stringify(v === undefined ? '<undefined>' : v);

/** One language-neutral operation on the Node client (README.md's table). */
async function runStep(c, op, args) {
  switch (op) {
    case 'input':
      return c.input();
    case 'output':
      return c.output(args.value);
    case 'get_output':
      return c.getOutput();
    case 'get_variable': {
      // getVariable has no default argument: undefined marks a missing variable.
      const v = await c.getVariable(args.key);
      return v === undefined ? (Object.hasOwn(args, 'default') ? args.default : null) : v;
    }
    case 'get_variable_info': {
      const e = await c.getVariableInfo(args.key);
      return e === undefined ? null : { value: e.value, version: e.version };
    }
    case 'set_variable': {
      const opts = Object.hasOwn(args, 'if_version') ? { ifVersion: args.if_version } : undefined;
      // The new version, a number (docs/bindings.md: writing a variable returns its version).
      return await c.setVariable(args.key, args.value, opts);
    }
    case 'delete_variable': {
      const opts = Object.hasOwn(args, 'if_version') ? { ifVersion: args.if_version } : undefined;
      return c.deleteVariable(args.key, opts);
    }
    case 'list_variables':
      return c.listVariables();
    case 'set_condition':
      return c.setCondition(args.value);
    case 'get_condition':
      return c.getCondition();
    case 'context':
      return c.getContext();
    case 'stream_input': {
      const records = [];
      for await (const r of c.streamInput()) records.push(r);
      return records;
    }
    case 'stream_output': {
      const stream = c.streamOutput();
      const writer = stream.getWriter();
      for (const r of args.records) await writer.write(r);
      await writer.close();
      return { ...(await stream.summary) };
    }
    case 'execute_tool_action':
      return c.executeToolAction({ tool: args.tool, action: args.action, params: args.params });
    default:
      return UNSUPPORTED;
  }
}

function check(step, got) {
  const expect = step.expect;
  const where = step.op;
  if (got.unsupported) throw new Error(`${where}: no Node mapping for this operation`);
  if (expect.error) {
    if (!got.error) throw new Error(`${where}: expected error ${show(expect.error)}, got ${show(got.value)}`);
    for (const [k, v] of Object.entries(expect.error)) {
      if (Object.hasOwn(got.error, k) && !same(got.error[k], v)) {
        throw new Error(`${where}: error ${k} is ${show(got.error[k])}, expected ${show(v)} (error ${show(got.error)})`);
      }
    }
    return;
  }
  if (got.error) throw new Error(`${where}: unexpected error ${show(got.error)}`);
  if (Object.hasOwn(expect, 'value') && !same(got.value === undefined ? null : got.value, expect.value)) {
    throw new Error(`${where}: got ${show(got.value)}, expected ${show(expect.value)}`);
  }
  if (expect.contains) {
    for (const [k, v] of Object.entries(expect.contains)) {
      if (got.value === null || typeof got.value !== 'object' || !Object.hasOwn(got.value, k) || !same(got.value[k], v)) {
        throw new Error(`${where}: field ${k} is ${show(got.value?.[k])}, expected ${show(v)}`);
      }
    }
  }
}

CASES.forEach((kase, index) => {
  const reason = kase.pending ?? kase.skip?.node;
  test(kase.name, { skip: reason || false }, async () => {
    const execution = info.executions[index];
    const c = new Cronium({ socket: info.socket, token: kase.token ?? execution.token });
    for (const step of kase.steps) {
      const got = {};
      try {
        const value = await runStep(c, step.op, step.args ?? {});
        if (value === UNSUPPORTED) got.unsupported = true;
        else got.value = value;
      } catch (err) {
        if (err instanceof CroniumError) {
          got.error = { code: err.code, kind: err.kind, status: err.status, retryable: err.retryable };
        } else {
          throw err;
        }
      }
      check(step, got);
    }
  });
});
