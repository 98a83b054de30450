// Every helper call inside an async function: --modernize moves it to `await`.
async function main() {
  const order = cronium.input();
  const seen = parseInt(cronium.getVariable('seen') || '0', 10) + 1;
  cronium.setVariable('seen', String(seen));
  cronium.setCondition(order.total);
  cronium.output({ seen, event: cronium.event().eventName, missing: cronium.getVariable('nope') });
}

main();
