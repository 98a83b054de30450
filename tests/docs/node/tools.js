// docs/tools.md, "Send it from a script" (Node.js). tests/docs/run.sh runs it under
// `cronium run` with Slack and webhook credentials pointing at a local receiver and checks
// what it received.
// START tools
const cronium = require('cronium');

async function main() {
  await cronium.sendSlackMessage('deploy done', { channel: '#ops' });   // text, then any other fields
  await cronium.executeToolAction({ tool: 'webhook', action: 'request',
                                    params: { method: 'POST', path: '/deploy/42', body: { ref: 'main' } } });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
// END tools
