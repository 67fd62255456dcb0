// Baseline: Node's own https server answering every request with the bytes the broker answers a Get with
// (same status line, headers and body). No routing, no registry: what Node itself can do here.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const body = Buffer.from(process.env.BENCH_BODY ?? '{}', 'utf8');
const server = createServer({ cert: readFileSync(process.env.BENCH_CERT), key: readFileSync(process.env.BENCH_KEY), minVersion: 'TLSv1.2' }, (req, res) => {
  req.resume();
  res.writeHead(200, 'OK', { 'Content-Type': 'Application/json', 'Content-Length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.once('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
