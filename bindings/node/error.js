'use strict';
// The one error type of the package, rebuilt from client-core's error fields.

/** Starts the message of every error the native addon raises (see src/convert.rs). */
const NATIVE_MARKER = '\u0001cronium-error:';

/**
 * An error from the Cronium runtime or from this client.
 *
 * `code` is stable snake_case (the server's `error.code`, or a client code such as
 * `not_configured`, `connection_failed`, `timeout`, `invalid_key`); `kind` is the coarse
 * class; `status` is the HTTP status when the server answered; `retryable` says whether
 * the same call may succeed later (the client has already retried what was safe).
 */
class CroniumError extends Error {
  /**
   * @param {string} message
   * @param {{code: string, kind: string, status?: number | null, retryable?: boolean,
   *          requestId?: string | null, retryAfter?: number | null, cause?: unknown}} fields
   */
  constructor(message, fields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.kind = fields.kind;
    this.status = fields.status ?? null;
    this.retryable = fields.retryable ?? false;
    this.requestId = fields.requestId ?? null;
    this.retryAfter = fields.retryAfter ?? null;
  }
}

Object.defineProperty(CroniumError.prototype, 'name', {
  value: 'CroniumError',
  writable: true,
  configurable: true,
  enumerable: false,
});

/**
 * How the native addon reports a failed async call: its error text, turned into a
 * CroniumError by fromNative where the caller awaits it (so the stack is the caller's).
 */
class NativeFailure {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
  }
}

/** A CroniumError from the addon's error text (marker + JSON fields). */
function fromText(text, stackStart) {
  if (typeof text !== 'string' || !text.startsWith(NATIVE_MARKER)) {
    return new CroniumError(String(text), { code: 'internal', kind: 'internal' });
  }
  const fields = JSON.parse(text.slice(NATIVE_MARKER.length));
  const error = new CroniumError(fields.message, fields);
  // The stack starts at the caller's frame, not in this file.
  Error.captureStackTrace(error, stackStart);
  return error;
}

/**
 * A native error as a CroniumError; anything else unchanged.
 * @param {unknown} err
 * @returns {unknown}
 */
function fromNative(err) {
  if (err instanceof NativeFailure) return fromText(err.text, fromNative);
  if (err instanceof Error && typeof err.message === 'string' && err.message.startsWith(NATIVE_MARKER)) {
    return fromText(err.message, fromNative);
  }
  return err;
}

module.exports = { CroniumError, NativeFailure, fromNative };
