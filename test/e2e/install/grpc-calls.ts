// Run inside a pod netns (`ip netns exec <ns> node grpc-calls.js <host:port> <n>`), so the
// pod's sidecar captures the calls as it would the app's own. Makes exactly `n` sequential
// unary calls to weft.test.Echo on one channel (one HTTP/2 connection, like a real gRPC
// client) and prints {ok, versions, errors} as JSON. Bounded: n <= 1000, 5 s per call.
import * as grpc from '@grpc/grpc-js';
import { loadEchoPackage } from '../../fixtures/apps/echo-proto.js';

interface EchoClient extends grpc.Client {
  Echo(req: { message: string }, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { message: string; version: string }) => void): void;
}

const [target, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!target || !Number.isInteger(n) || n < 1 || n > 1000) {
  process.stderr.write('usage: grpc-calls <host:port> <n (1-1000)>\n');
  process.exit(2);
}
const pkg = loadEchoPackage();
const client = new pkg.weft.test.Echo(target, grpc.credentials.createInsecure()) as unknown as EchoClient;
const out = { ok: 0, versions: {} as Record<string, number>, errors: [] as string[] };
for (let i = 0; i < n; i++) {
  const msg = `call-${i}`;
  await new Promise<void>((resolve) => {
    client.Echo({ message: msg }, { deadline: Date.now() + 5000 }, (err, r) => {
      if (err || r?.message !== msg) {
        if (out.errors.length < 5) out.errors.push(err ? `${err.code} ${err.details}` : `echo mismatch: ${JSON.stringify(r)}`);
      } else {
        out.ok++;
        out.versions[r.version] = (out.versions[r.version] ?? 0) + 1;
      }
      resolve();
    });
  });
}
client.close();
process.stdout.write(JSON.stringify(out));
