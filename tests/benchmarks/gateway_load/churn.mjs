// Reconnect churn: `count` ocpp-rpc (OCPP 1.6) stations connect, boot, send a
// Heartbeat and close, over and over, `concurrency` at a time, for `seconds`.
// Prints one JSON object: connections made, errors.
//
// Usage: node churn.mjs '<json: {url, prefix, count, seconds, concurrency}>'
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { RPCClient } = require('../../gateway/conformance/node_modules/ocpp-rpc');

const opts = JSON.parse(process.argv[2]);
let connections = 0;
let errors = 0;
const until = performance.now() + opts.seconds * 1000;
let next = 0;

async function cycle(i) {
  const client = new RPCClient({
    endpoint: opts.url,
    identity: `${opts.prefix}${String(i).padStart(6, '0')}`,
    protocols: ['ocpp1.6'],
    strictMode: false,
    reconnect: false,
    pingIntervalMs: 0,
  });
  try {
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'Churn', chargePointModel: 'Gen' });
    await client.call('Heartbeat', {});
    connections += 1;
  } catch (error) {
    errors += 1;
  } finally {
    await client.close({ code: 1000, awaitPending: false }).catch(() => {});
  }
}

await Promise.all(Array.from({ length: opts.concurrency }, async () => {
  while (performance.now() < until) {
    const i = next++ % opts.count;
    await cycle(i);
  }
}));
process.stdout.write(JSON.stringify({ connections, errors }) + '\n');
process.exit(0);
