'use strict';
// The value conversion alone (no sidecar): what JSON text becomes in JS and back.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { parse, parseExact, stringify } = require('../json.js');
const { CroniumError } = require('cronium');

describe('parse', () => {
  it('is JSON.parse for text that cannot hold an unsafe integer', () => {
    for (const text of ['0', '-0', '""', 'false', 'null', '[1,2.5,{"a":"b"}]', '{"n":900719925474099}']) {
      assert.deepStrictEqual(parse(text), JSON.parse(text));
    }
  });

  it('turns integer literals beyond ±(2^53 − 1) into BigInt, and only those', () => {
    assert.deepStrictEqual(parse('{"a":9007199254740991,"b":9007199254740992,"c":-9007199254740993}'), {
      a: 9007199254740991,
      b: 9007199254740992n,
      c: -9007199254740993n,
    });
    assert.deepStrictEqual(parse('[12345678901234567890.0, 1.2345678901234567e30, 12345678901234567e2]'), [
      12345678901234567890,
      1.2345678901234567e30,
      12345678901234567e2,
    ]);
    assert.equal(parse('123456789012345678901234567890'), 123456789012345678901234567890n);
  });

  it('the exact parser agrees with JSON.parse on everything else', () => {
    const texts = [
      ' { "a" : [ 1 , -2.5e-3 , true , false , null , "x\\"y\\\\z\\u00e9\\n" ] , "b" : { } , "c" : [ ] } ',
      '"1234567890123456789 in a string"',
      '{"__proto__":{"x":1},"k":"v"}',
      '[[[[[]]]]]',
      '"\\ud834\\udd1e"',
    ];
    for (const text of texts) assert.deepStrictEqual(parseExact(text), JSON.parse(text), text);
    assert.equal(Object.getPrototypeOf(parseExact('{"__proto__":{"x":1}}')), Object.prototype);
  });

  it('the exact parser rejects what JSON.parse rejects', () => {
    for (const text of ['', '{', '[1,]', '{"a"}', '01', 'tru', '"open', '1 2', '{"a":1,}', "'x'", 'NaN']) {
      assert.throws(() => parseExact(text), SyntaxError, text);
      assert.throws(() => JSON.parse(text), SyntaxError, text);
    }
  });
});

describe('stringify', () => {
  it('writes BigInt as exact JSON integers', () => {
    assert.equal(stringify({ a: 2n ** 64n, b: [-1n, 3], c: '5n' }, 'v'), '{"a":18446744073709551616,"b":[-1,3],"c":"5n"}');
    assert.equal(stringify(10n ** 30n, 'v'), '1000000000000000000000000000000');
  });

  it('round-trips with parse', () => {
    const value = { big: -(2n ** 100n), list: [0, '', false, null, 1.5], nested: { s: '12345678901234567890' } };
    assert.deepStrictEqual(parse(stringify(value, 'v')), value);
  });

  it('keeps JSON.stringify semantics (toJSON, dropped undefined members)', () => {
    const date = new Date(0);
    assert.equal(stringify({ date, skip: undefined, f() {} }, 'v'), '{"date":"1970-01-01T00:00:00.000Z"}');
  });

  it('refuses values with no JSON form', () => {
    for (const value of [undefined, () => 1, Symbol('s')]) {
      assert.throws(() => stringify(value, 'the value'), (e) => e instanceof CroniumError && e.code === 'invalid_json');
    }
    const cyclic = [];
    cyclic.push(cyclic);
    assert.throws(() => stringify(cyclic, 'the value'), (e) => e instanceof CroniumError && e.kind === 'validation');
  });
});
