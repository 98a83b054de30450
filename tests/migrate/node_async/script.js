const cronium = require('./cronium.js');

// Every helper call inside an async function: --modernize moves it to `await`.
async function main() {
  const order = cronium.input();
  const seen = parseInt(cronium.getVariable('seen') || '0', 10) + 1;
  cronium.setVariable('seen', String(seen));
  cronium.setCondition(order.total);
  cronium.output({ seen, event: cronium.event().name, missing: cronium.getVariable('nope') });
}

main();
