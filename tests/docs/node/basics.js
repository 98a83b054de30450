// docs/node.md, "A script (CommonJS)". tests/docs/run.sh runs it under `cronium run` with an
// order as input, a two-record input stream and a Slack credential pointing at a local
// receiver, and checks that it ends by itself with the output, stream and message.
// START basics
const cronium = require('cronium');

async function main() {
  const order = await cronium.input();                    // null when there is none
  const seen = (await cronium.getVariable('orders_seen')) ?? 0;   // undefined when absent
  await cronium.setVariable('orders_seen', seen + 1);     // resolves to the new version (a number)
  await cronium.setCondition(order.total > 100);
  await cronium.output({ id: order.id, ok: true });

  const counter = cronium.variable('runs');               // CroniumVariable: get / info / set / delete / watch / subscribe
  await counter.set(((await counter.get()) ?? 0) + 1);   // set(v, { ifVersion }) for compare-and-set
  const unsubscribe = counter.subscribe((value, change) => console.log('runs is now', value, change.version),
                                        { onError: (e) => console.error('subscriber:', e) });  // reported; it goes on
  await counter.set(((await counter.get()) ?? 0) + 1);
  unsubscribe();                                          // a subscription keeps Node alive until then

  const out = cronium.streamOutput();                     // a WHATWG WritableStream of records
  const writer = out.getWriter();
  for await (const record of cronium.streamInput()) {     // AsyncIterable, read incrementally
    await writer.write({ seen: record });
  }
  await writer.close();
  console.log(await out.summary);                         // { records, bytes } as the server stored them

  await cronium.sendSlackMessage('done', { channel: '#alerts' }, { idempotencyKey: `order-${order.id}` });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
// END basics
