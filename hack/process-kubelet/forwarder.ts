// In-pod API access: pods reach the API server at KUBERNETES_SERVICE_HOST=<bridge address>,
// and this forwarder relays those connections to the real API server on 127.0.0.1. The API
// server's certificate carries the bridge address as a SAN, so TLS verifies end to end.
import net from 'node:net';
import type { Logger } from 'pino';

export class TcpForwarder {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly listen: { host: string; port: number },
    private readonly target: { host: string; port: number },
    private readonly logger: Logger,
  ) {}

  async start(): Promise<boolean> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return await new Promise((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        // Another process kubelet (or a previous one) may hold it; pods still get through.
        this.logger.warn({ err: e.message, code: e.code, ...this.listen }, 'api forwarder could not listen');
        resolve(false);
      });
      server.listen(this.listen.port, this.listen.host, () => {
        this.server = server;
        this.logger.info({ listen: this.listen, target: this.target }, 'api forwarder listening');
        resolve(true);
      });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }
}
