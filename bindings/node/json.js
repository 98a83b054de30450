'use strict';
// JSON between scripts and the runtime, keeping every value exact.
//
// Values cross the native boundary as JSON text: V8's JSON.parse/JSON.stringify are the
// fastest way to build and walk JS values. One gap: a JS number holds integers exactly
// only up to 2^53 - 1, and the runtime stores whatever JSON a script wrote (another
// language may write 12345678901234567890). So:
//   - reading: an integer literal (no fraction, no exponent) outside the safe range
//     becomes a BigInt; every other number is a Number, as JSON.parse makes it;
//   - writing: a BigInt is written as a JSON integer with all its digits.
// Text with no run of 16 digits cannot hold an unsafe integer and takes the plain
// JSON.parse path; only the rest goes through the exact parser below.

const { CroniumError } = require('./error.js');

/** 2^53 has 16 digits: shorter digit runs are always safe integers. */
const MAYBE_UNSAFE = /\d{16}/;

/**
 * JSON text to a JS value; unsafe integers become BigInt.
 * @param {string} text
 * @returns {unknown}
 */
function parse(text) {
  if (!MAYBE_UNSAFE.test(text)) return JSON.parse(text);
  return parseExact(text);
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * A complete JSON parser (the slow path): strings are decoded by JSON.parse itself, so
 * only structure and numbers are handled here.
 * @param {string} text
 */
function parseExact(text) {
  let i = 0;
  const fail = (what) => {
    throw new SyntaxError(`${what} in JSON at position ${i}`);
  };
  const skipSpace = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else return;
    }
  };
  const string = () => {
    const start = i;
    i++; // the opening quote
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('Unterminated string');
      if (c === 92) i += 2;
      else if (c === 34) {
        i++;
        return JSON.parse(text.slice(start, i));
      } else i++;
    }
  };
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) fail(`Unexpected token ${JSON.stringify(text[i] ?? 'end')}`);
    i = NUMBER.lastIndex;
    const n = Number(m[0]);
    if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n)) return BigInt(m[0]);
    return n;
  };
  const literal = (word, value) => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return value;
    }
    return fail(`Unexpected token ${JSON.stringify(text[i])}`);
  };
  const value = () => {
    skipSpace();
    switch (text[i]) {
      case '{': {
        i++;
        const obj = {};
        skipSpace();
        if (text[i] === '}') {
          i++;
          return obj;
        }
        for (;;) {
          skipSpace();
          if (text[i] !== '"') fail('Expected a property name');
          const key = string();
          skipSpace();
          if (text[i] !== ':') fail("Expected ':'");
          i++;
          const v = value();
          // A JSON key "__proto__" is an own property, as JSON.parse makes it.
          if (key === '__proto__') {
            Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
          } else obj[key] = v;
          skipSpace();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] !== '}') fail("Expected ',' or '}'");
          i++;
          return obj;
        }
      }
      case '[': {
        i++;
        const arr = [];
        skipSpace();
        if (text[i] === ']') {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(value());
          skipSpace();
          if (text[i] === ',') {
            i++;
            continue;
          }
          if (text[i] !== ']') fail("Expected ',' or ']'");
          i++;
          return arr;
        }
      }
      case '"':
        return string();
      case 't':
        return literal('true', true);
      case 'f':
        return literal('false', false);
      case 'n':
        return literal('null', null);
      default:
        return number();
    }
  };
  const result = value();
  skipSpace();
  if (i !== text.length) fail('Unexpected non-whitespace character after JSON');
  return result;
}

/** Marks BigInts during JSON.stringify; random so no user string can look like one. */
const BIGINT_MARK = `\u0002cronium-bigint-${Math.random().toString(36).slice(2)}:`;
const BIGINT_MARKED = new RegExp(`"\\\\u0002${BIGINT_MARK.slice(1)}(-?\\d+)"`, 'g');

function markBigInt(_key, value) {
  return typeof value === 'bigint' ? BIGINT_MARK + value.toString() : value;
}

/**
 * A JS value as JSON text; BigInts are written as exact integers.
 * @param {unknown} value
 * @param {string} what names the value in the error message
 * @returns {string}
 */
function stringify(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    if (err instanceof TypeError && /BigInt/.test(err.message)) {
      text = JSON.stringify(value, markBigInt).replace(BIGINT_MARKED, '$1');
    } else {
      throw new CroniumError(`${what} cannot be written as JSON: ${err.message}`, {
        code: 'invalid_json',
        kind: 'validation',
        cause: err,
      });
    }
  }
  if (text === undefined) {
    throw new CroniumError(`${what} cannot be written as JSON (it is ${typeof value})`, {
      code: 'invalid_json',
      kind: 'validation',
    });
  }
  return text;
}

module.exports = { parse, parseExact, stringify };
