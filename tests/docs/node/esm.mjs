// docs/node.md, "ES modules". tests/docs/run.sh runs it under `cronium run` and checks what
// it printed and the output it set.
// START esm
import { getVariable, setVariable, output, Cronium, CroniumError } from 'cronium';

const runs = (await getVariable('runs')) ?? 0;            // top-level await: ES modules only
await setVariable('runs', runs + 1);

const client = new Cronium();                             // explicit configuration (here: the environment's)
try {
  await client.setVariable('a/b', 1);
} catch (e) {
  if (e instanceof CroniumError) console.log(e.code, e.kind, e.status, e.retryable);  // invalid_key validation null false
}
await output({ runs: runs + 1 });
// END esm
