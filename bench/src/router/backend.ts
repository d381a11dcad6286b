// The app behind every proxy in bench/router: `node backend.js PORT [ADDRESS]` answers "hello" on 127.0.0.1
// (or ADDRESS: 0.0.0.0 inside a container's namespace)
// with keep-alive (Node's defaults, like a real app: keepAliveTimeout 5 s). A process of its own,
// so it never shares an event loop with the router it is measured through.
import http from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: backend.js PORT\n');
  process.exit(2);
}
const body = Buffer.from('hello');
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.listen(port, process.argv[3] ?? '127.0.0.1');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
