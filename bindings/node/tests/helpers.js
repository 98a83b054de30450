'use strict';
// Test support: a real `cronium serve` on a temp socket, and executions created with the
// admin command (`cronium executions create --json`), as the orchestrator does.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
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

function connectable(socket) {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A running sidecar on a fresh state dir; `stop()` ends it (SIGTERM, then SIGKILL). */
class Sidecar {
  static async start(env = {}) {
    if (!fs.existsSync(CRONIUM)) {
      throw new Error(`${CRONIUM} is missing: build it with \`cargo build -p cronium-cli --bin cronium\``);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cronium-node-'));
    const socket = path.join(dir, 'run', 'rt.sock');
    const log = fs.openSync(path.join(dir, 'sidecar.log'), 'w');
    const child = spawn(CRONIUM, ['--state-dir', dir, 'serve', '--socket', socket], {
      env: baseEnv({ CRONIUM_RATE_LIMIT: '0', ...env }),
      stdio: ['ignore', 'ignore', log],
    });
    fs.closeSync(log);
    const sidecar = new Sidecar(dir, socket, child);
    const deadline = Date.now() + 20000;
    while (!(await connectable(socket))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        sidecar.stop();
        throw new Error(`the sidecar did not start: ${sidecar.log()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return sidecar;
  }

  constructor(dir, socket, child) {
    this.dir = dir;
    this.socket = socket;
    this.child = child;
  }

  log() {
    try {
      return fs.readFileSync(path.join(this.dir, 'sidecar.log'), 'utf8');
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
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      timer.unref();
    }
    fs.rm(this.dir, { recursive: true, force: true, maxRetries: 3 }, () => {});
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
