// A typed script using every declaration of the ES module API. Compiled, never run.
import cronium, {
  Cronium,
  CroniumError,
  CroniumSync,
  CroniumVariable,
  type ClientOptions,
  type CroniumErrorKind,
  type CroniumOutputStream,
  type EventContext,
  type JsonValue,
  type StreamSummary,
  type ToolInfo,
  type TrelloCardResult,
  type Unsubscribe,
  type VariableChange,
  type VariableEntry,
  type VariableInfo,
} from 'cronium';
import * as ns from 'cronium';

interface Order {
  id: string;
  total: number;
}

interface Counter {
  runs: number;
  last?: string;
}

// Input, output, variables, condition, context: module-level functions.
const order: Order = await cronium.input<Order>();
const raw: JsonValue = await ns.input();
await ns.output({ id: order.id, ok: true, raw });
const out: JsonValue = await ns.getOutput();
const seen: number = (await ns.getVariable<number>('orders_seen')) ?? 0;
const version: number = await ns.setVariable('orders_seen', seen + 1, { ifVersion: 0 });
const entry: VariableInfo<number> | undefined = await ns.getVariableInfo<number>('orders_seen');
if (entry !== undefined) await ns.setVariable('orders_seen', entry.value + 1, { ifVersion: entry.version });
const oldEntry: VariableEntry<number> | undefined = await ns.getVariableEntry<number>('orders_seen');
const deleted: boolean = await ns.deleteVariable('old', { ifVersion: version + (oldEntry?.version ?? 0) });
const keys: string[] = await ns.listVariables();
await ns.setCondition(order.total > 100);
const condition: boolean | null = await ns.getCondition();
const context: EventContext = await ns.getContext();
const same: EventContext = await ns.event();
const older: EventContext = await ns.getEventContext();
const attempt: number = context.attempt + same.attempt;
await ns.refreshToken();

// Variables as objects, with generics.
const counter: CroniumVariable<Counter> = ns.variable<Counter>('counter');
const current: Counter | undefined = await counter.get();
await counter.set({ runs: (current?.runs ?? 0) + 1, last: context.startedAt });
const counterEntry: VariableInfo<Counter> | undefined = await counter.info();
const counterVersion: number = await counter.set({ runs: 0 });
const counterOld: VariableInfo<Counter> | undefined = await counter.getEntry();
const stop: Unsubscribe = counter.subscribe(
  (value: Counter | undefined, change: VariableChange<Counter>) => {
    const runs: number | undefined = value?.runs;
    const version: number | null = change.version;
    console.log(runs, version, change.deleted, change.key, change.updatedAt);
  },
  { signal: AbortSignal.timeout(1000), onError: (e: unknown) => console.error(e) },
);
stop();
for await (const change of ns.watchVariable<Counter>('counter')) {
  const runs: number | undefined = change.value?.runs;
  console.log(runs);
  break;
}
for await (const change of counter.watch()) {
  const version: number | null = change.version;
  console.log(version);
  break;
}
const removed: boolean = await counter.delete({ ifVersion: counterEntry?.version ?? 0 });

// Streams.
for await (const record of ns.streamInput<Order>()) {
  const total: number = record.total;
  console.log(total);
}
const stream: CroniumOutputStream<Order> = ns.streamOutput<Order>();
const writer = stream.getWriter();
await writer.write({ id: 'a', total: 1 });
await writer.close();
const summary: StreamSummary = await stream.summary;
const piped: WritableStream<JsonValue> = ns.streamOutput<JsonValue>();
await ReadableStream.from<JsonValue>([1, 'two', { three: 3n }]).pipeTo(piped);

// Tool actions.
interface SlackResult {
  status: number;
}
const result: SlackResult = await ns.executeToolAction<SlackResult, { channel: string; text: string }>(
  { tool: 'slack', action: 'send-message', params: { channel: '#alerts', text: 'done' } },
  { idempotencyKey: `order-${order.id}` },
);
await ns.sendSlackMessage('hi', { channel: '#alerts' }, { idempotencyKey: 'k0' });
await ns.sendSlackMessage('hi');
await ns.sendDiscordMessage('hi', { embeds: [] });
await ns.sendTeamsMessage('Build 7 passed', { title: 'CI', color: '00FF00' }, { idempotencyKey: 't1' });
const card: TrelloCardResult = await ns.createTrelloCard('list1', 'Fix login', { desc: 'd', pos: 'top' });
const cardId: string = card.cardId;
const appended = await ns.appendSheetRows('Log!A:C', [['ok', 42]], { spreadsheetId: 's', valueInputOption: 'RAW' });
const cells: number = appended.updatedCells;
const tools: ToolInfo[] = await ns.listTools();
const syncTools: ToolInfo[] = ns.sync.listTools();
console.log(cardId, cells, tools[0]?.credentials, syncTools.length);
await ns.sendEmail<{ id: string }>(['a@example.com'], 'Report', 'Done', { cc: 'b@example.com' });
// The earlier one-object forms.
await ns.sendSlackMessage({ text: 'hi', channel: '#alerts' });
await ns.sendDiscordMessage({ content: 'hi' }, { idempotencyKey: 'k' });
await ns.sendEmail<{ id: string }>({ to: ['a@example.com'], subject: 'Report', body: 'Done' });

// Synchronous variants.
const sync: CroniumSync = ns.sync;
const syncInput: Order = sync.input<Order>();
sync.output({ ok: true });
const syncOut: JsonValue = sync.getOutput();
const syncSeen: number | undefined = sync.getVariable<number>('orders_seen');
const syncEntry: VariableInfo | undefined = sync.getVariableInfo('orders_seen');
const syncMeta: number = sync.setVariable('orders_seen', 1n, { ifVersion: syncEntry?.version ?? 0 });
const syncDeleted: boolean = sync.deleteVariable('x');
const syncKeys: string[] = sync.listVariables();
sync.setCondition(true);
const syncCondition: boolean | null = sync.getCondition();
const syncContext: EventContext = sync.getContext();
const syncEvent: EventContext = sync.event();
const syncTool: JsonValue = sync.executeToolAction({ tool: 'webhook', action: 'request' });

// Explicit clients and errors.
const options: ClientOptions = { socket: '/run/cronium/runtime.sock', token: 't', executionId: 'e', timeout: 5000, maxRetries: 1 };
const client = new Cronium(options);
const tcp = new Cronium({ url: 'http://127.0.0.1:8089' });
const endpoint: string = client.endpoint + tcp.endpoint;
const clientInput: Order = await client.input<Order>();
await client.output(clientInput);
const clientVar: number | undefined = await client.getVariable<number>('k');
const clientSync: number | undefined = client.sync.getVariable<number>('k');
const clientStream: CroniumOutputStream = client.streamOutput();
for await (const r of client.streamInput()) console.log(r);
await client.sendEmail({ to: 'a@example.com', subject: 's' });
try {
  await client.setVariable('k', 1);
} catch (err) {
  if (err instanceof CroniumError) {
    const code: string = err.code;
    const kind: CroniumErrorKind = err.kind;
    const status: number | null = err.status;
    const retryable: boolean = err.retryable;
    const requestId: string | null = err.requestId;
    const retryAfter: number | null = err.retryAfter;
    const message: string = err.message;
    console.log(code, kind, status, retryable, requestId, retryAfter, message, err.name);
  }
}
const made = new CroniumError('x', { code: 'c', kind: 'internal' });

console.log(out, deleted, keys, condition, attempt, removed, summary, result, syncInput, syncOut, syncSeen, older);
console.log(counterVersion, counterOld);
console.log(syncMeta, syncDeleted, syncKeys, syncCondition, syncContext, syncEvent, syncTool, endpoint);
console.log(clientVar, clientSync, clientStream, made);
