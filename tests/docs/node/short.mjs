// The README's Node.js example (an ES module: top-level await). tests/docs/run.sh runs it
// under `cronium run` and checks the output it set.
// START short
import * as cronium from 'cronium';

const order = await cronium.input();
const seen = (await cronium.getVariable('orders_seen')) ?? 0;
await cronium.setVariable('orders_seen', seen + 1);
await cronium.setCondition(order.total > 100);
await cronium.output({ id: order.id, ok: true });
// END short
