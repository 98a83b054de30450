// docs/node.md, "TypeScript". tests/docs/run.sh compiles it with tsc against
// tests/docs/node/tsconfig.json (the settings the guide shows), then runs the emitted
// JavaScript under `cronium run` and checks what it printed.
// START typescript
import * as cronium from 'cronium';

interface Order { id: string; total: number }

const order = await cronium.input<Order>();
const runs = cronium.variable<number>('runs');          // CroniumVariable<number>
await runs.set(((await runs.get()) ?? 0) + 1);
await cronium.output({ id: order.id, big: order.total > 100 });
try {
  await cronium.setVariable('a/b', 1);
} catch (e) {
  if (e instanceof cronium.CroniumError) console.log(e.code, e.kind, e.status, e.retryable);  // invalid_key validation null false
}
// END typescript
