'use strict';
// Test support: a real `cronium serve` started by the test kit (tests/kit), and executions
// created with the admin command (`cronium executions create --json`), as the orchestrator does.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
/** The debug `cronium` binary (`make test-node` builds it). */
const CRONIUM = process.env.CRONIUM_BIN || path.join(TARGET, 'debug', 'cronium');
/** The HS256 secret every test sidecar verifies with. */
const SECRET = 'node-test-secret-node-test-secret-0123';
/** The package directory (what `require('cronium')` resolves to). */
const PACKAGE = path.resolve(__dirname, '..');

function baseEnv(extra = {}) {
  const env = { ...process.env, CRONIUM_TOKEN_SECRET: SECRET, CRONIUM_LOG: 'warn', ...extra };
  for (const name of ['CRONIUM_CONFIG', 'CRONIUM_RUNTIME_SOCKET', 'CRONIUM_RUNTIME_API', 'CRONIUM_EXECUTION_TOKEN', 'CRONIUM_EXECUTION_ID']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** The test kit (tests/kit), the one launcher of test sidecars. */
const TESTKIT = process.env.CRONIUM_TESTKIT || path.join(TARGET, 'debug', 'cronium-testkit');

/**
 * A running sidecar on a fresh state dir, started by the test kit; `stop()` ends it (the
 * kit stops the sidecar and removes the state dir when its stdin closes).
 */
class Sidecar {
  static async start(env = {}) {
    for (const [file, build] of [[CRONIUM, 'cronium-cli --bin cronium'], [TESTKIT, 'cronium-testkit']]) {
      if (!fs.existsSync(file)) throw new Error(`${file} is missing: build it with \`cargo build -p ${build}\``);
    }
    const args = ['--cronium', CRONIUM];
    for (const [k, v] of Object.entries({ CRONIUM_RATE_LIMIT: '0', ...env })) args.push('--env', `${k}=${v}`);
    const kit = spawn(TESTKIT, args, { env: baseEnv({ CRONIUM_TOKEN_SECRET: SECRET }), stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise((resolve, reject) => {
      let out = '';
      const onData = (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          kit.stdout.off('data', onData);
          resolve(out.slice(0, nl));
        }
      };
      kit.stdout.on('data', onData);
      kit.once('exit', (code) => reject(new Error(`cronium-testkit exited (${code}) before the sidecar was ready; see its stderr`)));
    });
    const info = JSON.parse(line);
    return new Sidecar(info.stateDir, info.socket, info.pid, kit);
  }

  constructor(dir, socket, pid, kit) {
    this.dir = dir;
    this.socket = socket;
    this.kit = kit;
    /** The sidecar process (its pid, and signals to it), for tests that pause it. */
    this.child = { pid, kill: (signal) => process.kill(pid, signal) };
  }

  log() {
    try {
      return fs.readFileSync(path.join(this.dir, 'rt.sock.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs an admin command on this state dir; its stdout. */
  admin(args, options = {}) {
    return execFileSync(CRONIUM, ['--state-dir', this.dir, ...args], {
      env: baseEnv(),
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      ...options,
    });
  }

  /**
   * `cronium executions create --json` with these arguments (`--user` defaults to a fresh
   * user). Returns { id, token, userId, eventId, env }, `env` being what a script gets.
   */
  create(args = []) {
    const all = args.includes('--user') ? args : ['--user', `u${process.pid}-${Math.random().toString(36).slice(2)}`, ...args];
    const out = JSON.parse(this.admin(['executions', 'create', '--json', ...all]));
    return {
      ...out,
      env: {
        CRONIUM_RUNTIME_SOCKET: this.socket,
        CRONIUM_EXECUTION_TOKEN: out.token,
        CRONIUM_EXECUTION_ID: out.id,
      },
    };
  }

  /** The execution as the admin command shows it. */
  show(id) {
    return JSON.parse(this.admin(['executions', 'show', id, '--json']));
  }

  stop() {
    // The kit stops the sidecar (SIGTERM, then SIGKILL) and removes the state dir.
    if (this.kit.exitCode === null && this.kit.signalCode === null) this.kit.stdin.end();
  }
}

/** Explicit client options for an execution (no process environment involved). */
function optionsFor(exec) {
  return { socket: exec.env.CRONIUM_RUNTIME_SOCKET, token: exec.token, executionId: exec.id };
}

/**
 * Runs `node` with a script; resolves { code, stdout, stderr }.
 * @param {string[]} args
 * @param {Record<string, string>} env
 */
function runNode(args, env = {}, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...baseEnv(), ...env }, ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

module.exports = { Sidecar, optionsFor, runNode, baseEnv, CRONIUM, SECRET, PACKAGE, REPO, TARGET };
