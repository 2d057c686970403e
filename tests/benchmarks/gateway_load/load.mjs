// Gateway load generator: N ocpp-rpc (OCPP 1.6) clients connected at once, each
// sending Heartbeat and MeterValues in turn so that all together send `rate`
// messages per second for `seconds`. Prints one JSON object with the figures.
//
// Usage: node load.mjs '<json: {url, prefix, count, rate, seconds, concurrency, idleSeconds}>'
// `idleSeconds`: after connecting, wait (all idle) and print "IDLE" on stderr so
// the driver can read the server's memory per idle connection.
// Strict mode is off here: the load generator must not spend its CPU validating.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { RPCClient } = require('../../gateway/conformance/node_modules/ocpp-rpc');

const opts = JSON.parse(process.argv[2]);
const clients = [];
const rtts = [];
let errors = 0;
let messages = 0;
const errorKinds = {};

function noteError(error) {
  errors += 1;
  const kind = String(error?.rpcErrorCode ?? error?.code ?? error?.message ?? error).slice(0, 80);
  errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
}

async function timedCall(client, method, params) {
  const began = process.hrtime.bigint();
  try {
    await client.call(method, params);
    rtts.push(Number(process.hrtime.bigint() - began) / 1e6);
    messages += 1;
  } catch (error) {
    noteError(error);
  }
}

async function connectOne(i) {
  const client = new RPCClient({
    endpoint: opts.url,
    identity: `${opts.prefix}${String(i).padStart(6, '0')}`,
    protocols: ['ocpp1.6'],
    strictMode: false,
    reconnect: false,
    callTimeoutMs: 30000,
    pingIntervalMs: 0,
  });
  try {
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'Load', chargePointModel: 'Gen' });
    clients.push(client);
  } catch (error) {
    noteError(error);
  }
}

// Connect phase, with a bounded number of handshakes in flight.
const connectStart = performance.now();
let next = 0;
await Promise.all(Array.from({ length: opts.concurrency }, async () => {
  while (next < opts.count) {
    const i = next++;
    await connectOne(i);
  }
}));
const connectSeconds = (performance.now() - connectStart) / 1000;
const connected = clients.length;
rtts.length = 0;
messages = 0;

if (opts.idleSeconds) {
  process.stderr.write('IDLE\n');
  await new Promise((resolve) => setTimeout(resolve, opts.idleSeconds * 1000));
}

// Load phase: each client sends every `period` ms, phases spread evenly.
const period = (connected / opts.rate) * 1000;
const loadStart = performance.now();
const until = loadStart + opts.seconds * 1000;
let register = 0;
await Promise.all(clients.map(async (client, index) => {
  await new Promise((resolve) => setTimeout(resolve, (index / connected) * period));
  let turn = 0;
  while (performance.now() < until) {
    const began = performance.now();
    if (turn++ % 2 === 0) {
      await timedCall(client, 'Heartbeat', {});
    } else {
      register += 10;
      await timedCall(client, 'MeterValues', {
        connectorId: 1,
        meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [
          { value: String(register), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
      });
    }
    const nextSend = began + period;
    if (nextSend >= until) break;  // no trailing wait: the window is exactly `seconds`
    const wait = nextSend - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}));
const loadSeconds = Math.max(opts.seconds, (performance.now() - loadStart) / 1000);
await Promise.all(clients.map((client) => client.close({ code: 1000, awaitPending: false }).catch(() => {})));

rtts.sort((a, b) => a - b);
const pct = (q) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] : null);
process.stdout.write(JSON.stringify({
  requested: opts.count, connected, connectSeconds, connectRate: connected / connectSeconds,
  messages, loadSeconds, messagesPerSecond: messages / loadSeconds,
  p50: pct(0.5), p99: pct(0.99), errors, errorKinds,
}) + '\n');
process.exit(0);
