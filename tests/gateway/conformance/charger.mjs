// A strict OCPP charger for the conformance tests, built on ocpp-rpc.
//
// Reads a scenario (JSON) on stdin:
//   {endpoint, identity, protocols, password?, steps: [{action, params}]}
// runs each CALL in order and prints one JSON object on stdout:
//   {protocol, results: [{action, ok, response | code, message}], failures}
// `failures` lists every frame from the CSMS that broke the official JSON
// schemas of the negotiated version (ocpp-rpc strict mode).
// In params, "$now" becomes the current time, "$now+N" N seconds later, and
// "$<i>.<path>" a field of step i's response (e.g. "$2.transactionId").
import { createRequire } from 'node:module';
import { RPCClient, createValidator } from 'ocpp-rpc';

// ocpp-rpc 2.2.1 ships the official OCPP 2.1 schemas with ids like
// "urn:AuthorizeRequest" but looks them up as "urn:Authorize.req": re-key them
// (the schemas themselves are unchanged) so strict mode can use them.
const require = createRequire(import.meta.url);
const ocpp21Schemas = require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => ({
  ...schema,
  $id: schema.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf'),
}));
const ocpp21Validator = createValidator('ocpp2.1', ocpp21Schemas);

const input = await new Promise((resolve) => {
  let data = '';
  process.stdin.on('data', (chunk) => { data += chunk; });
  process.stdin.on('end', () => resolve(data));
});
const scenario = JSON.parse(input);
const results = [];

function substitute(value) {
  if (Array.isArray(value)) return value.map(substitute);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  }
  if (typeof value !== 'string' || !value.startsWith('$')) return value;
  const now = value.match(/^\$now(?:\+(\d+))?$/);
  if (now) return new Date(Date.now() + 1000 * Number(now[1] ?? 0)).toISOString();
  const ref = value.match(/^\$(\d+)\.(.+)$/);
  if (ref) {
    return ref[2].split('.').reduce((obj, key) => obj?.[key], results[Number(ref[1])]?.response);
  }
  return value;
}

const client = new RPCClient({
  endpoint: scenario.endpoint,
  identity: scenario.identity,
  protocols: scenario.protocols,
  password: scenario.password,
  strictMode: true,
  strictModeValidators: [ocpp21Validator],
  reconnect: false,
  callTimeoutMs: 10000,
});
const failures = [];
client.on('strictValidationFailure', (event) => {
  failures.push({ outbound: event.outbound, isCall: event.isCall, message: String(event.error?.message ?? event.error) });
});

let connectError = null;
try {
  await client.connect();
} catch (error) {
  connectError = String(error.message ?? error);
}
if (!connectError) {
  for (const step of scenario.steps) {
    try {
      const response = await client.call(step.action, substitute(step.params ?? {}));
      results.push({ action: step.action, ok: true, response });
    } catch (error) {
      results.push({ action: step.action, ok: false, code: error.rpcErrorCode ?? null, message: String(error.message) });
    }
  }
  await client.close({ code: 1000 });
}
process.stdout.write(JSON.stringify({ protocol: client.protocol ?? null, connectError, results, failures }));
