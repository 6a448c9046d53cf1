// Plain node servers used as anchors, one process each (so each can be pinned to a core):
//   backend       answers every request with 1 KB, keep-alive
//   node-proxy    a plain node:http reverse proxy with a keep-alive agent: the floor any
//                 node-based proxy should beat
// Each prints "PORT n" once listening on 127.0.0.1 and exits on SIGTERM.
//   node dist/bench/anchors/servers.js backend | node-proxy <upstreamPort>
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const BODY_BYTES = 1024;

function announce(s: http.Server): void {
  process.stdout.write(`PORT ${(s.address() as AddressInfo).port}\n`);
}

export function startBackend(port = 0): http.Server {
  const body = Buffer.alloc(BODY_BYTES, 'x');
  const s = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
  });
  s.listen(port, '127.0.0.1', () => announce(s));
  return s;
}

export function startNodeProxy(upstream: number, port = 0): http.Server {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const s = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const u = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    u.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(u);
  });
  s.listen(port, '127.0.0.1', () => announce(s));
  return s;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.once('SIGTERM', () => process.exit(0));
  const role = process.argv[2];
  if (role === 'backend') startBackend();
  else if (role === 'node-proxy') startNodeProxy(Number(process.argv[3]));
  else {
    console.error('usage: servers.js backend | node-proxy <upstreamPort>');
    process.exit(2);
  }
}
