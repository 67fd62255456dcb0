// Baseline: a bare grpc-js server (its own TLS) with the broker's generated RegistryService, answering every
// Get with one prebuilt message: the same bytes the broker sends, without the broker behind them.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Entry, RegistryServiceService } from '../dist/generated/bpbroker/v1/registry.js';

// fromPartial fills the fields the bench's client left out (proto-loader drops default values).
const entry = Entry.fromPartial(JSON.parse(process.env.BENCH_ENTRY ?? '{}'));
const unimplemented = (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED });
const server = new grpc.Server();
server.addService(RegistryServiceService, {
  get: (_call, cb) => cb(null, { entry }),
  register: unimplemented,
  replace: unimplemented,
  update: unimplemented,
  delete: unimplemented,
  list: unimplemented,
});
const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(process.env.BENCH_CERT), private_key: readFileSync(process.env.BENCH_KEY) }], false);
server.bindAsync('127.0.0.1:0', creds, (err, port) => {
  if (err) throw err;
  console.log(`listening ${port}`);
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
