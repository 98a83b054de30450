// Old variables are strings: getVariable('COUNTER') gave '41'.
function bump(key) {
  const next = String(parseInt(cronium.getVariable(key) || '0', 10) + 1);
  cronium.setVariable(key, next);
  return next;
}

const order = cronium.input();
const count = bump('COUNTER');
let total = 0;
for (const item of order.items || []) {
  total += item.qty * item.price;
  cronium.setVariable('last_item', item.sku);
}
cronium.setCondition(total > 100);
const note = "not code: require('./cronium.js') and input.json";
cronium.output({ count, total, event: cronium.event().eventName, note });
