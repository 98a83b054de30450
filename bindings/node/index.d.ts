/// <reference types="node" />
// The public API of the `cronium` package (CommonJS `require('cronium')` and ES module
// `import ... from 'cronium'`). Checked by `tsc --noEmit --strict` against
// tests/types/example.ts, which uses every declaration below.

/**
 * Any JSON value as this package reads it. Integers beyond ±(2^53 − 1) are `bigint`
 * (JSON integer literals the runtime stores exactly); every other number is `number`.
 */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** The coarse class of a {@link CroniumError}. */
export type CroniumErrorKind =
  | 'auth'
  | 'not_found'
  | 'conflict'
  | 'validation'
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'tool_action'
  | 'config'
  | 'protocol'
  | 'internal';

/**
 * Every code the runtime or the client reports (the protocol crate's list, in its order;
 * tests/errors.test.js checks it against `errorCodes()`). `CroniumError.code` is typed
 * `string`: a newer sidecar may send a code this list lacks.
 */
export type CroniumErrorCode =
  | 'invalid_json'
  | 'invalid_body'
  | 'invalid_key'
  | 'invalid_header'
  | 'invalid_query'
  | 'invalid_ndjson'
  | 'token_missing'
  | 'token_malformed'
  | 'token_invalid_signature'
  | 'token_algorithm_rejected'
  | 'token_unknown_key'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_wrong_issuer'
  | 'token_wrong_audience'
  | 'execution_unknown'
  | 'scope_insufficient'
  | 'execution_mismatch'
  | 'execution_finished'
  | 'admin_unauthorized'
  | 'script_token_refused'
  | 'admin_credential_refused'
  | 'execution_not_found'
  | 'execution_conflict'
  | 'tool_action_unknown'
  | 'tool_params_invalid'
  | 'variable_not_found'
  | 'tool_not_configured'
  | 'route_not_found'
  | 'method_not_allowed'
  | 'version_conflict'
  | 'idempotency_in_progress'
  | 'idempotency_key_reused'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'request_timeout'
  | 'expectation_failed'
  | 'rate_limited'
  | 'storage_unavailable'
  | 'overloaded'
  | 'token_cannot_mint'
  | 'tool_upstream_failed'
  | 'tool_timeout'
  | 'internal'
  | 'not_configured'
  | 'runtime_context'
  | 'connection_failed'
  | 'tls_failed'
  | 'timeout'
  | 'protocol_error'
  | 'stream_closed';

/** What the protocol says about one error code. */
export interface ErrorCodeInfo {
  readonly code: CroniumErrorCode;
  /** The kind errors with this code have. */
  readonly kind: CroniumErrorKind;
  /** The HTTP status the runtime answers with it; `null` for client-only codes. */
  readonly status: number | null;
  /** Whether the same call may succeed if tried again later. */
  readonly retryable: boolean;
}

/** Every error code with its kind, status and retry rule (read from the addon). */
export declare function errorCodes(): ReadonlyArray<ErrorCodeInfo>;

/** Every failure of this package. */
export declare class CroniumError extends Error {
  constructor(
    message: string,
    fields: {
      code: string;
      kind: CroniumErrorKind;
      status?: number | null;
      retryable?: boolean;
      requestId?: string | null;
      retryAfter?: number | null;
      cause?: unknown;
    },
  );
  readonly name: 'CroniumError';
  /**
   * Stable snake_case code: the server's (`variable_not_found`, `version_conflict`,
   * `scope_insufficient`, `tool_upstream_failed`, ...) or the client's
   * (`not_configured`, `connection_failed`, `timeout`, `invalid_key`, `stream_closed`, ...);
   * see {@link CroniumErrorCode} and {@link errorCodes}.
   */
  readonly code: string;
  /** Coarse class, for handling families of errors. */
  readonly kind: CroniumErrorKind;
  /** HTTP status when the runtime answered; `null` for client-side failures. */
  readonly status: number | null;
  /** Whether the same call may succeed later (the client already retried what was safe). */
  readonly retryable: boolean;
  /** The runtime's request id, to find the failure in the sidecar's logs. */
  readonly requestId: string | null;
  /** Seconds the runtime asked to wait (rate limits). */
  readonly retryAfter: number | null;
}

/** Explicit configuration of a {@link Cronium} client. What is not given comes from the environment. */
export interface ClientOptions {
  /** The sidecar's Unix socket (default: `CRONIUM_RUNTIME_SOCKET`, then `/run/cronium/runtime.sock`). */
  socket?: string;
  /** `http://host:port` (default: `CRONIUM_RUNTIME_API`), used when the socket does not exist. */
  url?: string;
  /** The execution token (default: `CRONIUM_EXECUTION_TOKEN`). */
  token?: string;
  /** The execution id (default: `CRONIUM_EXECUTION_ID`). */
  executionId?: string;
  /** Per-call timeout in milliseconds, retries included (default 30000). */
  timeout?: number;
  /** Retries of idempotent calls after the first attempt (default 2). */
  maxRetries?: number;
}

/** A stored variable with its version (Python's `VariableInfo`). */
export interface VariableInfo<T = JsonValue> {
  key: string;
  value: T;
  /** Grows by one on every write; pass it as `ifVersion` for compare-and-set. */
  version: number;
  /** RFC 3339 UTC with milliseconds. */
  updatedAt: string;
}

/** @deprecated the earlier name of {@link VariableInfo}. */
export type VariableEntry<T = JsonValue> = VariableInfo<T>;

/** @deprecated writes now answer the new version (a number); this was their earlier answer. */
export interface VariableMeta {
  key: string;
  /** The version this write created. */
  version: number;
  updatedAt: string;
}

/** Compare-and-set: write or delete only when the stored version is this one (`0`: only when absent). */
export interface VersionOptions {
  ifVersion?: number;
}

/** One change of a watched variable. */
export interface VariableChange<T = JsonValue> {
  key: string;
  /** The new value; `undefined` for a delete. */
  value: T | undefined;
  /** The new version; `null` for a delete. */
  version: number | null;
  updatedAt: string;
  deleted: boolean;
}

/** Options of {@link CroniumVariable.subscribe}. */
export interface SubscribeOptions {
  /** Unsubscribes when aborted. */
  signal?: AbortSignal;
  /**
   * Receives each failure: a callback that threw (the subscription goes on) and a watch the
   * runtime refused for good, e.g. the token lacks `variables:read` (the subscription
   * ends). Without it each failure is one line on stderr; none crashes the process.
   */
  onError?: (error: unknown) => void;
}

/** Stops a subscription; calling it again does nothing. */
export type Unsubscribe = () => void;

/** One variable of the user, as an object. */
export declare class CroniumVariable<T = JsonValue> {
  private constructor();
  readonly key: string;
  /** The value; `undefined` when the variable does not exist. */
  get(): Promise<T | undefined>;
  /** The value with its version; `undefined` when the variable does not exist. */
  info(): Promise<VariableInfo<T> | undefined>;
  /** @deprecated the earlier name of {@link info}. */
  getEntry(): Promise<VariableInfo<T> | undefined>;
  /** Stores a value; resolves to the new version. */
  set(value: T, options?: VersionOptions): Promise<number>;
  /** Deletes the variable; whether it existed. */
  delete(options?: VersionOptions): Promise<boolean>;
  /** Its changes as an async iterator (see {@link Cronium.watchVariable}). */
  watch(): AsyncIterableIterator<VariableChange<T>>;
  /**
   * Calls `callback` on every change from now on (read the current value with `get()`),
   * awaiting what it returns before the next change. A callback that throws is reported
   * (see {@link SubscribeOptions.onError}) and the subscription goes on.
   * While subscribed, the process stays alive, as with a timer.
   */
  subscribe(callback: (value: T | undefined, change: VariableChange<T>) => unknown, options?: SubscribeOptions): Unsubscribe;
}

/** The event context of the execution; custom fields given at creation appear too. */
export interface EventContext {
  executionId: string;
  userId: string;
  eventId: string;
  eventName: string | null;
  eventType: string | null;
  jobId: string | null;
  startedAt: string;
  trigger: string;
  workflowStep: JsonValue;
  attempt: number;
  [field: string]: JsonValue | undefined;
}

/** A tool action: which tool, which action, its parameters. */
export interface ToolActionRequest<P = Record<string, unknown>> {
  tool: string;
  action: string;
  params?: P;
}

export interface ToolActionOptions {
  /** Makes retries of the same logical call run it once (generated per call when absent). */
  idempotencyKey?: string;
}

/** Parameters of a Slack message (the incoming-webhook payload). */
export interface SlackMessage {
  text?: string;
  blocks?: unknown[];
  channel?: string;
  username?: string;
  icon_emoji?: string;
  [field: string]: unknown;
}

/** Parameters of a Discord message (the webhook payload). */
export interface DiscordMessage {
  content?: string;
  embeds?: unknown[];
  username?: string;
  avatar_url?: string;
  [field: string]: unknown;
}

/** Parameters of an email. */
export interface EmailMessage {
  to: string | string[];
  cc?: string | string[];
  bcc?: string | string[];
  subject: string;
  body?: string;
  html?: string;
  [field: string]: unknown;
}

/** What the runtime stored of one output stream. */
export interface StreamSummary {
  records: number;
  bytes: number;
}

/** The output stream: a WHATWG `WritableStream` of records, plus what the server stored. */
export interface CroniumOutputStream<T = unknown> extends WritableStream<T> {
  /** Resolves after `close()` with the server's count; rejects if the stream failed or was aborted. */
  readonly summary: Promise<StreamSummary>;
}

/**
 * Blocking variants of the simple calls (`cronium.sync.getVariable(...)`). Each blocks the
 * event loop for one request: meant for scripts written for the old synchronous helpers.
 */
export declare class CroniumSync {
  private constructor();
  input<T = JsonValue>(): T;
  output(data: unknown): void;
  getOutput<T = JsonValue>(): T;
  getVariable<T = JsonValue>(key: string): T | undefined;
  getVariableInfo<T = JsonValue>(key: string): VariableInfo<T> | undefined;
  /** @deprecated the earlier name of {@link getVariableInfo}. */
  getVariableEntry<T = JsonValue>(key: string): VariableInfo<T> | undefined;
  /** Stores a variable; returns its new version. */
  setVariable(key: string, value: unknown, options?: VersionOptions): number;
  deleteVariable(key: string, options?: VersionOptions): boolean;
  listVariables(): string[];
  setCondition(condition: boolean): void;
  getCondition(): boolean | null;
  getContext(): EventContext;
  /** @deprecated the earlier name of {@link getContext}. */
  getEventContext(): EventContext;
  /** Alias of {@link getContext} (the old helpers' name). */
  event(): EventContext;
  /** The tools the user has credentials for; never a secret. */
  listTools(): ToolInfo[];
  executeToolAction<R = JsonValue, P = Record<string, unknown>>(request: ToolActionRequest<P>, options?: ToolActionOptions): R;
}

/** A client of the runtime for one execution. */
export declare class Cronium {
  /** Configured from `options`, then the environment, on first use. */
  constructor(options?: ClientOptions);
  /** Blocking variants of the simple calls. */
  readonly sync: CroniumSync;
  /** Where the client connects: `unix:/path` or `http://host:port`. */
  readonly endpoint: string;
  /** The execution's input (`null` when it has none). */
  input<T = JsonValue>(): Promise<T>;
  /** Sets the execution's output (last write wins). */
  output(data: unknown): Promise<void>;
  /** The output set so far (`null` when none). */
  getOutput<T = JsonValue>(): Promise<T>;
  /** A variable's value; `undefined` when it does not exist. */
  getVariable<T = JsonValue>(key: string): Promise<T | undefined>;
  /** A variable with its version; `undefined` when it does not exist. */
  getVariableInfo<T = JsonValue>(key: string): Promise<VariableInfo<T> | undefined>;
  /** @deprecated the earlier name of {@link getVariableInfo}. */
  getVariableEntry<T = JsonValue>(key: string): Promise<VariableInfo<T> | undefined>;
  /** Stores a variable (any JSON value; `bigint` for integers beyond 2^53); resolves to its new version. */
  setVariable(key: string, value: unknown, options?: VersionOptions): Promise<number>;
  /** Deletes a variable; whether it existed. */
  deleteVariable(key: string, options?: VersionOptions): Promise<boolean>;
  /** The keys of the user's variables, sorted. */
  listVariables(): Promise<string[]>;
  /**
   * The changes of a variable as an async iterator (the watch opens when the iteration
   * starts; leaving the loop closes it).
   */
  watchVariable<T = JsonValue>(key: string): AsyncIterableIterator<VariableChange<T>>;
  /** One variable as an object with get / set / subscribe. */
  variable<T = JsonValue>(key: string): CroniumVariable<T>;
  /** Sets the workflow condition. */
  setCondition(condition: boolean): Promise<void>;
  /** The condition set so far; `null` when none. */
  getCondition(): Promise<boolean | null>;
  /** The event context. */
  getContext(): Promise<EventContext>;
  /** @deprecated the earlier name of {@link getContext}. */
  getEventContext(): Promise<EventContext>;
  /** Alias of {@link getContext} (the old helpers' name). */
  event(): Promise<EventContext>;
  /** Asks for a fresh token now (calls refresh on their own before it expires). */
  refreshToken(): Promise<void>;
  /** The input as a stream of records, read incrementally. */
  streamInput<T = JsonValue>(): AsyncIterableIterator<T>;
  /** The output stream. */
  streamOutput<T = unknown>(): CroniumOutputStream<T>;
  /** Runs a tool action with the platform's credentials; answers the tool's result. */
  executeToolAction<R = JsonValue, P = Record<string, unknown>>(request: ToolActionRequest<P>, options?: ToolActionOptions): Promise<R>;
  /** Posts `text` to the user's Slack webhook; `params` adds fields (`channel`, `blocks`, ...). */
  sendSlackMessage<R = JsonValue>(text: string, params?: SlackMessage, options?: ToolActionOptions): Promise<R>;
  /** @deprecated the earlier form: every field in one object. */
  sendSlackMessage<R = JsonValue>(params: SlackMessage, options?: ToolActionOptions): Promise<R>;
  /** Posts `content` to the user's Discord webhook; `params` adds fields (`embeds`, ...). */
  sendDiscordMessage<R = JsonValue>(content: string, params?: DiscordMessage, options?: ToolActionOptions): Promise<R>;
  /** @deprecated the earlier form: every field in one object. */
  sendDiscordMessage<R = JsonValue>(params: DiscordMessage, options?: ToolActionOptions): Promise<R>;
  /** Sends an email through the user's SMTP credential; `params` adds fields (`cc`, `html`, ...). */
  sendEmail<R = JsonValue>(
    to: string | string[],
    subject: string,
    body: string,
    params?: Partial<EmailMessage>,
    options?: ToolActionOptions,
  ): Promise<R>;
  /** @deprecated the earlier form: every field in one object. */
  sendEmail<R = JsonValue>(params: EmailMessage, options?: ToolActionOptions): Promise<R>;
  /** Posts `message` to the user's Microsoft Teams webhook; `params` adds fields (`title`, `sections`, ...). */
  sendTeamsMessage<R = ToolResult>(message: string, params?: TeamsMessage, options?: ToolActionOptions): Promise<R>;
  /** Creates a Trello card `name` in the list `listId`; `params` adds fields (`desc`, `due`, ...). */
  createTrelloCard<R = TrelloCardResult>(listId: string, name: string, params?: TrelloCard, options?: ToolActionOptions): Promise<R>;
  /** Appends `rows` after the table in `range` of a Google Sheet; `params` adds fields (`spreadsheetId`, ...). */
  appendSheetRows<R = SheetWriteResult>(range: string, rows: unknown[][], params?: SheetRowsOptions, options?: ToolActionOptions): Promise<R>;
  /** The tools the user has credentials for; never a secret. */
  listTools(): Promise<ToolInfo[]>;
}

/** A tool the user has credentials for (`listTools`). */
export interface ToolInfo {
  tool: string;
  /** The names of the user's credentials for it (pick one with `credential`). */
  credentials: string[];
  /** Its action ids. */
  actions: string[];
}

/** The fields every tool result has. */
export interface ToolResult {
  ok: true;
  tool: string;
  action: string;
  credential: string;
  status: number;
  body: string;
  truncated: boolean;
  attempts: number;
}

/** Fields of `teams` / `send-message` besides `message`. */
export interface TeamsMessage {
  title?: string;
  /** Theme colour, hex without `#` (default `0078D4`). */
  color?: string;
  sections?: Record<string, unknown>[];
  potentialAction?: Record<string, unknown>[];
  credential?: string;
}

/** Fields of `trello` / `create-card` besides `listId` and `name`. */
export interface TrelloCard {
  desc?: string;
  pos?: 'top' | 'bottom' | number;
  due?: string;
  dueComplete?: boolean;
  idMembers?: string[];
  idLabels?: string[];
  urlSource?: string;
  idCardSource?: string;
  keepFromSource?: string | string[];
  credential?: string;
}

/** The result of `trello` / `create-card`. */
export interface TrelloCardResult extends ToolResult {
  cardId: string;
  url: string;
  data: JsonValue;
}

/** Fields of `google-sheets` / `write-data` besides `range` and the rows. */
export interface SheetRowsOptions {
  spreadsheetId?: string;
  valueInputOption?: 'RAW' | 'USER_ENTERED';
  includeValuesInResponse?: boolean;
  credential?: string;
}

/** The result of `google-sheets` / `write-data`. */
export interface SheetWriteResult extends ToolResult {
  updatedRange: string;
  updatedRows: number;
  updatedColumns: number;
  updatedCells: number;
  data: JsonValue;
}

// The module-level API: one client configured from the environment on first use.

export declare function input<T = JsonValue>(): Promise<T>;
export declare function output(data: unknown): Promise<void>;
export declare function getOutput<T = JsonValue>(): Promise<T>;
export declare function getVariable<T = JsonValue>(key: string): Promise<T | undefined>;
export declare function getVariableInfo<T = JsonValue>(key: string): Promise<VariableInfo<T> | undefined>;
/** @deprecated the earlier name of {@link getVariableInfo}. */
export declare function getVariableEntry<T = JsonValue>(key: string): Promise<VariableInfo<T> | undefined>;
export declare function setVariable(key: string, value: unknown, options?: VersionOptions): Promise<number>;
export declare function deleteVariable(key: string, options?: VersionOptions): Promise<boolean>;
export declare function listVariables(): Promise<string[]>;
export declare function variable<T = JsonValue>(key: string): CroniumVariable<T>;
export declare function watchVariable<T = JsonValue>(key: string): AsyncIterableIterator<VariableChange<T>>;
export declare function setCondition(condition: boolean): Promise<void>;
export declare function getCondition(): Promise<boolean | null>;
export declare function getContext(): Promise<EventContext>;
/** @deprecated the earlier name of {@link getContext}. */
export declare function getEventContext(): Promise<EventContext>;
/** Alias of {@link getContext} (the old helpers' name). */
export declare function event(): Promise<EventContext>;
export declare function refreshToken(): Promise<void>;
export declare function streamInput<T = JsonValue>(): AsyncIterableIterator<T>;
export declare function streamOutput<T = unknown>(): CroniumOutputStream<T>;
export declare function executeToolAction<R = JsonValue, P = Record<string, unknown>>(
  request: ToolActionRequest<P>,
  options?: ToolActionOptions,
): Promise<R>;
export declare function sendTeamsMessage<R = ToolResult>(message: string, params?: TeamsMessage, options?: ToolActionOptions): Promise<R>;
export declare function createTrelloCard<R = TrelloCardResult>(listId: string, name: string, params?: TrelloCard, options?: ToolActionOptions): Promise<R>;
export declare function appendSheetRows<R = SheetWriteResult>(range: string, rows: unknown[][], params?: SheetRowsOptions, options?: ToolActionOptions): Promise<R>;
export declare function listTools(): Promise<ToolInfo[]>;
export declare function sendSlackMessage<R = JsonValue>(text: string, params?: SlackMessage, options?: ToolActionOptions): Promise<R>;
/** @deprecated the earlier form: every field in one object. */
export declare function sendSlackMessage<R = JsonValue>(params: SlackMessage, options?: ToolActionOptions): Promise<R>;
export declare function sendDiscordMessage<R = JsonValue>(content: string, params?: DiscordMessage, options?: ToolActionOptions): Promise<R>;
/** @deprecated the earlier form: every field in one object. */
export declare function sendDiscordMessage<R = JsonValue>(params: DiscordMessage, options?: ToolActionOptions): Promise<R>;
export declare function sendEmail<R = JsonValue>(
  to: string | string[],
  subject: string,
  body: string,
  params?: Partial<EmailMessage>,
  options?: ToolActionOptions,
): Promise<R>;
/** @deprecated the earlier form: every field in one object. */
export declare function sendEmail<R = JsonValue>(params: EmailMessage, options?: ToolActionOptions): Promise<R>;
/** Blocking variants of the simple calls, on the module-level client. */
export declare const sync: CroniumSync;

/**
 * The global `cronium` that `register.js` (preloaded by `cronium run`) gives scripts written
 * for the old helpers: every call synchronous, the old return conventions.
 */
export interface LegacyCronium {
  /** The input; `{}` when there is none. */
  input<T = JsonValue>(): T;
  output(data: unknown): void;
  event(): EventContext;
  /** A variable's value; `null` when it does not exist. */
  getVariable<T = JsonValue>(key: string): T | null;
  /** Stores a variable; returns `true`. */
  setVariable(key: string, value: unknown): true;
  /** Sets the condition from any value's truthiness; returns the boolean stored. */
  setCondition(condition: unknown): boolean;
  getCondition(): boolean | null;
  getContext(): EventContext;
  /** @deprecated the earlier name of {@link getContext}. */
  getEventContext(): EventContext;
  getOutput<T = JsonValue>(): T;
  deleteVariable(key: string, options?: VersionOptions): boolean;
  listVariables(): string[];
  getVariableInfo<T = JsonValue>(key: string): VariableInfo<T> | undefined;
  /** @deprecated the earlier name of {@link getVariableInfo}. */
  getVariableEntry<T = JsonValue>(key: string): VariableInfo<T> | undefined;
}
