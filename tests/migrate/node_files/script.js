// START readme
const fs = require('fs');
require('./cronium.js');

// Direct reads and writes of the old files.
const data = JSON.parse(fs.readFileSync('input.json', 'utf8'));
const event = require('./event.json');
// END readme

async function main() {
  let seen = parseInt(cronium.getVariable('seen') || '0', 10);
  for (const row of data.rows) {
    seen += row;
  }
  cronium.setVariable('seen', String(seen));
  const result = { rows: data.rows.length, seen, event: event.name };
  fs.writeFileSync('output.json', JSON.stringify(result, null, 2));
  const condition = seen > 100;
  fs.writeFileSync('condition.json', JSON.stringify({ condition }));
}

main();
