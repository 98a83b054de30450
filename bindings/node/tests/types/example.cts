// The CommonJS API, typed: require('cronium') is the same module as the ES one.
import cronium = require('cronium');

async function main(): Promise<void> {
  const value: number | undefined = await cronium.getVariable<number>('k');
  const version: number = await cronium.setVariable('k', (value ?? 0) + 1);
  const variable: cronium.CroniumVariable<string> = cronium.variable<string>('name');
  const stop: cronium.Unsubscribe = variable.subscribe((v) => console.log(v?.toUpperCase()));
  stop();
  const client: cronium.Cronium = new cronium.Cronium({ socket: '/tmp/rt.sock' });
  const sync: boolean | null = client.sync.getCondition();
  try {
    cronium.sync.setCondition(true);
  } catch (e) {
    if (e instanceof cronium.CroniumError) console.log(e.code, e.status);
  }
  console.log(version, sync);
}

void main();
