// START readme
const fs = require('fs');

// Direct reads and writes of the old files.
const data = cronium.input();
const event = cronium.event();
// END readme

async function main() {
  let seen = parseInt(cronium.getVariable('seen') || '0', 10);
  for (const row of data.rows) {
    seen += row;
  }
  cronium.setVariable('seen', String(seen));
  const result = { rows: data.rows.length, seen, event: event.eventName };
  cronium.output(result);
  const condition = seen > 100;
  cronium.setCondition(condition);
}

main();
