// An interactive strict OCPP station on ocpp-rpc, driven line by line from pytest.
//
// argv[2] is a JSON config: {endpoint, identity, protocols, password?, answers}.
// `answers` maps a CSMS-initiated action to what the station answers:
//   a payload object            -> CALLRESULT with it
//   {"$error": code}            -> CALLERROR with that code
//   {"$silent": true}           -> no answer at all (the CSMS must time out)
// stdin, one JSON object per line:
//   {"op": "call", "id": n, "action": ..., "params": {...}}  -> a CALL to the CSMS
//   {"op": "answers", "answers": {...}}                     -> change answers
//   {"op": "close"}                                          -> close and exit
// stdout, one JSON object per line:
//   {"event": "open", "protocol"} | {"event": "connectError", "message"}
//   {"event": "received", "action", "params"}    (a CALL from the CSMS)
//   {"event": "result", "id", "ok", "response" | "code", "message"}
//   {"event": "failure", ...}  a frame from the CSMS broke the official schemas
//   {"event": "closed", "code"}
import { createRequire } from 'node:module';
import readline from 'node:readline';
import ocppRpc from 'ocpp-rpc';

const { RPCClient, createRPCError, createValidator, NOREPLY } = ocppRpc;

const require = createRequire(import.meta.url);
// ocpp-rpc 2.2.1 ships the 2.1 schemas keyed "urn:XRequest" but looks up
// "urn:X.req": re-key them (see charger.mjs).
const ocpp21Validator = createValidator(
  'ocpp2.1',
  require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => ({
    ...schema,
    $id: schema.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf'),
  })),
);

const config = JSON.parse(process.argv[2]);
let answers = config.answers ?? {};
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

const client = new RPCClient({
  endpoint: config.endpoint,
  identity: config.identity,
  protocols: config.protocols,
  password: config.password,
  strictMode: true,
  strictModeValidators: [ocpp21Validator],
  reconnect: false,
  callTimeoutMs: 10000,
});
client.on('strictValidationFailure', (event) => {
  emit({
    event: 'failure',
    method: event.method,
    outbound: event.outbound,
    isCall: event.isCall,
    message: String(event.error?.message ?? event.error),
  });
});
client.on('close', ({ code }) => {
  emit({ event: 'closed', code });
  process.exit(0);
});
client.handle(({ method, params }) => {
  emit({ event: 'received', action: method, params });
  const answer = answers[method];
  if (answer === undefined) throw createRPCError('NotImplemented', `no answer scripted for ${method}`);
  if (answer.$silent) return NOREPLY;
  if (answer.$error) throw createRPCError(answer.$error, 'scripted refusal');
  return answer;
});

try {
  await client.connect();
  emit({ event: 'open', protocol: client.protocol });
} catch (error) {
  emit({ event: 'connectError', message: String(error.message ?? error) });
  process.exit(0);
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const op = JSON.parse(line);
  if (op.op === 'answers') {
    answers = { ...answers, ...op.answers };
  } else if (op.op === 'call') {
    client.call(op.action, op.params ?? {}).then(
      (response) => emit({ event: 'result', id: op.id, ok: true, response }),
      (error) => emit({ event: 'result', id: op.id, ok: false, code: error.rpcErrorCode ?? null, message: String(error.message) }),
    );
  } else if (op.op === 'close') {
    await client.close({ code: 1000 });
  }
}
await client.close({ code: 1000 });
