// Weft's ADS server as its own process, for the side-by-side with go-control-plane (same
// clients, same trigger): serves benchModel(services) from bench/xds.ts and, on POST /change
// to its control port, flips svc-0's route weight and pushes at once (pushNow, no debounce,
// like go-control-plane's SetSnapshot). Prints "ADS n" and "CTL n"; 127.0.0.1 only.
//   node dist/bench/anchors/weft-xds.js --services 1000
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../src/log/logger.js';
import { startControlPlane, StaticModelSource } from '../../src/xds/controlplane.js';
import { benchModel } from '../xds.js';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--services');
  const services = i > 0 ? Number(process.argv[i + 1]) : 1000;
  if (!(services >= 1 && services <= 100_000)) throw new Error(`weft-xds: --services must be 1..100000, got ${process.argv[i + 1]}`);
  let weight = 90;
  const source = new StaticModelSource(benchModel(services, weight));
  const cp = await startControlPlane({ source, logger: silentLogger(), xdsPort: 0, host: '127.0.0.1', debounceMs: 100, debounceMaxMs: 10_000 });
  const ctl = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/change') {
      res.writeHead(404).end();
      return;
    }
    weight = weight === 90 ? 80 : 90;
    source.set(benchModel(services, weight));
    cp.pushNow();
    res.end(`${weight}\n`);
  });
  await new Promise<void>((r) => ctl.listen(0, '127.0.0.1', r));
  const adsPort = Number(cp.address.slice(cp.address.lastIndexOf(':') + 1));
  process.stdout.write(`ADS ${adsPort}\nCTL ${(ctl.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => {
    ctl.close();
    void cp.close().finally(() => process.exit(0));
  });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
