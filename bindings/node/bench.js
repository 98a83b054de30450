'use strict';
// Latency of a cached `getVariable("bench")`, one call at a time, for `make bench`.
//
//   CRONIUM_RUNTIME_SOCKET=... CRONIUM_EXECUTION_TOKEN=... node bench.js --n 20000 --client sync
//
// --client sync   cronium.sync.getVariable (blocking, client-core's BlockingClient)
// --client async  await cronium.getVariable (on Node's own event loop, src/uv.rs)
// --client http   Node's own http module: a keep-alive Agent over the same Unix socket,
//                 GET /v1/variables/bench, body parsed (the baseline a pure-JS client gets)
//
// Prints one JSON line: {"client": ..., "samples_ns": [...]} (process.hrtime.bigint per call).

const http = require('node:http');
const cronium = require('./index.js');

function args(argv) {
  const out = { n: 10000, client: 'sync', warmup: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--n') out.n = Number(value);
    else if (flag === '--client') out.client = value;
    else if (flag === '--warmup') out.warmup = Number(value);
    else throw new Error(`unknown argument ${flag} (use --n N --client sync|async|http [--warmup N])`);
    i++;
  }
  if (!Number.isInteger(out.n) || out.n < 1) throw new Error('--n must be a positive integer');
  if (!['sync', 'async', 'http'].includes(out.client)) throw new Error('--client must be sync, async or http');
  out.warmup ??= Math.min(2000, Math.max(100, Math.floor(out.n / 10)));
  return out;
}

function httpClient() {
  const socketPath = process.env.CRONIUM_RUNTIME_SOCKET;
  const token = process.env.CRONIUM_EXECUTION_TOKEN;
  if (!socketPath || !token) throw new Error('CRONIUM_RUNTIME_SOCKET and CRONIUM_EXECUTION_TOKEN must be set');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const options = {
    socketPath,
    agent,
    method: 'GET',
    path: '/v1/variables/bench',
    headers: { Host: 'localhost', Authorization: `Bearer ${token}` },
  };
  return () =>
    new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')).data.value);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
}

async function main() {
  const { n, client, warmup } = args(process.argv.slice(2));
  // The variable must exist for the calls to be cached reads; create it once if absent.
  if (cronium.sync.getVariable('bench') === undefined) cronium.sync.setVariable('bench', { n: 1 });
  const samples = new Array(n);
  if (client === 'sync') {
    const get = cronium.sync.getVariable;
    for (let i = 0; i < warmup; i++) get('bench');
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      get('bench');
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
  } else {
    const get = client === 'async' ? () => cronium.getVariable('bench') : httpClient();
    for (let i = 0; i < warmup; i++) await get();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await get();
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
  }
  process.stdout.write(`${JSON.stringify({ client, samples_ns: samples })}\n`);
}

main().catch((err) => {
  console.error(`bench.js: ${err.message}`);
  process.exit(1);
});
