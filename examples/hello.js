// A Cronium Node.js script: `require('cronium')` and the runtime is there.
//
//     cronium run examples/hello.js --input '{"name":"Ada"}'
const cronium = require('cronium');

async function main() {
  const input = (await cronium.input()) ?? {};
  const name = input.name ?? 'World';
  console.log(`Hello, ${name}!`);

  // Variables belong to the user and outlive the run: count the greetings.
  const greetings = cronium.variable('greetings');
  const count = ((await greetings.get()) ?? 0) + 1;
  await greetings.set(count);
  await cronium.variable('last_name').set(name);

  // The condition picks the next branch of a workflow.
  await cronium.setCondition(count > 1);
  await cronium.output({ greeting: `Hello, ${name}!`, count });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
