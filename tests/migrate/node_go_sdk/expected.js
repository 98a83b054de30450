// Written for the Go-era asynchronous Node SDK.
const cronium = require('cronium');

async function main() {
  const input = await cronium.input();
  const runs = ((await cronium.getVariable('runs')) || 0) + 1;
  await cronium.setVariable('runs', runs);
  await cronium.setCondition(runs > input.threshold);
  const ev = await cronium.event();
  await cronium.output({ event: ev.eventName, runs, type: (await cronium.event()).eventType });
}

main();
