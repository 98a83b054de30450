'use strict';
// The error codes are the protocol crate's (read from the addon): the declarations, the
// kinds CroniumError takes and the codes the JavaScript half raises itself must all be
// in that list. On drift the test prints what to paste (pydantic-core's test_all_errors).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const cronium = require('cronium');

const PACKAGE = path.join(__dirname, '..');

/** The members of `export type NAME = | 'a' | 'b';` in index.d.ts. */
function union(name) {
  const text = fs.readFileSync(path.join(PACKAGE, 'index.d.ts'), 'utf8');
  const m = text.match(new RegExp(`export type ${name} =([^;]*);`));
  assert.ok(m, `index.d.ts declares ${name}`);
  return [...m[1].matchAll(/'([a-z_]+)'/g)].map((x) => x[1]);
}

describe('error codes', () => {
  const codes = cronium.errorCodes();

  it('errorCodes() lists the protocol table', () => {
    assert.ok(Object.isFrozen(codes));
    const byCode = new Map(codes.map((c) => [c.code, c]));
    assert.deepEqual(byCode.get('version_conflict'), {
      code: 'version_conflict',
      kind: 'conflict',
      status: 409,
      retryable: false,
    });
    assert.equal(byCode.get('connection_failed').status, null);
    assert.equal(byCode.get('connection_failed').retryable, true);
    assert.equal(byCode.get('stream_aborted'), undefined, 'aborting a stream is stream_closed');
    assert.equal(cronium.errorCodes(), codes, 'read once');
  });

  it('index.d.ts declares every code (CroniumErrorCode)', () => {
    const declared = union('CroniumErrorCode');
    const wanted = codes.map((c) => c.code);
    if (JSON.stringify(declared) !== JSON.stringify(wanted)) {
      console.log(`export type CroniumErrorCode =\n${wanted.map((c) => `  | '${c}'`).join('\n')};`);
      assert.fail('index.d.ts CroniumErrorCode differs from the protocol crate: paste the type printed above');
    }
  });

  it('every kind of a code is a CroniumErrorKind', () => {
    const kinds = new Set(union('CroniumErrorKind'));
    for (const c of codes) assert.ok(kinds.has(c.kind), `${c.code}: kind ${c.kind} is not declared`);
  });

  it('the codes the JavaScript half raises are protocol codes with their kinds', () => {
    const kindOf = new Map(codes.map((c) => [c.code, c.kind]));
    let seen = 0;
    for (const file of fs.readdirSync(PACKAGE).filter((f) => /\.(js|mjs)$/.test(f))) {
      const text = fs.readFileSync(path.join(PACKAGE, file), 'utf8');
      for (const m of text.matchAll(/code: '([a-z_]+)',\s*kind: '([a-z_]+)'/g)) {
        seen += 1;
        assert.equal(kindOf.get(m[1]), m[2], `${file}: code '${m[1]}' with kind '${m[2]}'`);
      }
    }
    assert.ok(seen >= 5, `found ${seen} codes raised in JavaScript`);
  });
});
