'use strict';
// Preloaded by `cronium run` (`node --require <this file>`, through NODE_OPTIONS) so that
// scripts written for Cronium's old helpers run unchanged, with no `require` line:
//
//   const order = cronium.input();          // synchronous, as the old helpers were
//   cronium.setVariable('seen', 1);
//   cronium.output({ ok: true });
//
// It must cost next to nothing for scripts that never touch it: it defines the global
// `cronium` as a getter, and loads the package (and its native addon, and reads the
// environment) only when a script first uses that global. A script's own
// `const cronium = require('cronium')` or `import * as cronium from 'cronium'` shadows
// the global and never triggers it.

const fs = require('node:fs');
const path = require('node:path');

/** The old helpers' API: every call synchronous, their return conventions kept. */
function legacyApi() {
  const { sync } = require('./index.js');
  return Object.freeze({
    /** The input; `{}` when there is none (the old helpers read a missing input.json as `{}`). */
    input: () => sync.input() ?? {},
    /** Sets the output. */
    output: (data) => sync.output(data),
    /** The event context (today's name: getContext). */
    event: () => sync.getContext(),
    /** A variable's value; `null` when it does not exist. `0`, `""` and `false` stay themselves. */
    getVariable: (key) => {
      const value = sync.getVariable(key);
      return value === undefined ? null : value;
    },
    /** Stores a variable (any JSON value, kept as it is); returns `true`. */
    setVariable: (key, value) => {
      sync.setVariable(key, value);
      return true;
    },
    /** Sets the condition from any truthy/falsy value; returns the boolean stored. */
    setCondition: (condition) => {
      const value = Boolean(condition);
      sync.setCondition(value);
      return value;
    },
    /** The condition, `null` when none was set. */
    getCondition: () => sync.getCondition(),
    // The rest of the synchronous API, for old scripts that grow.
    getContext: () => sync.getContext(),
    getEventContext: () => sync.getContext(),
    getOutput: () => sync.getOutput(),
    deleteVariable: (key, options) => sync.deleteVariable(key, options),
    listVariables: () => sync.listVariables(),
    getVariableInfo: (key) => sync.getVariableInfo(key),
    getVariableEntry: (key) => sync.getVariableInfo(key),
  });
}

function define(value) {
  Object.defineProperty(globalThis, 'cronium', { value, writable: true, configurable: true, enumerable: false });
}

if (!Object.prototype.hasOwnProperty.call(globalThis, 'cronium')) {
  Object.defineProperty(globalThis, 'cronium', {
    configurable: true,
    enumerable: false,
    get() {
      const api = legacyApi();
      define(api);
      return api;
    },
    // A sloppy-mode script assigning `cronium = require('cronium')` replaces it.
    set(value) {
      define(value);
    },
  });
}

// ES modules ignore NODE_PATH, so `import 'cronium'` needs a resolve hook. Installing one
// starts a loader thread (tens of milliseconds), so only when the entry script imports
// `cronium` itself.
const IMPORTS_CRONIUM = /\bfrom\s*['"]cronium['"]|\bimport\s*\(?\s*['"]cronium['"]/;

function entryImportsCronium() {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return IMPORTS_CRONIUM.test(fs.readFileSync(path.resolve(entry), 'utf8'));
  } catch {
    return false;
  }
}

if (entryImportsCronium()) {
  const { register } = require('node:module');
  const { pathToFileURL } = require('node:url');
  if (typeof register === 'function') register(pathToFileURL(path.join(__dirname, 'esm-hooks.mjs')));
}
