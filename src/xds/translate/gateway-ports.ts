// Which port a gateway proxy listens on for a Gateway server. Istio binds a server to the
// targetPort of the gateway's own Service port with the server's number (Service 80 -> 8080:
// a server on port 80 listens on 8080); a server number no Service port of the gateway has is
// bound as it is (Istio's bookinfo-gateway uses 8080 directly). The gateway's Services are the
// ones with an endpoint at the proxy's address, as Istio finds a proxy's service targets.
import type { MeshModel, ProxyContext } from '../model.js';

/** Gateway server port -> listen port, from the Services this proxy is an endpoint of. */
export function gatewayListenPorts(model: MeshModel, proxy: ProxyContext): (serverPort: number) => number {
  const byServerPort = new Map<number, number>();
  if (proxy.ip) {
    for (const e of model.endpoints) {
      if (e.address !== proxy.ip) continue;
      const svcPort = model.services.find((s) => s.hostname === e.hostname)?.ports.find((p) => p.name === e.portName);
      // The endpoint carries the resolved target port (named targetPorts included); the first Service wins.
      if (svcPort && !byServerPort.has(svcPort.port)) byServerPort.set(svcPort.port, e.port);
    }
  }
  return (serverPort) => byServerPort.get(serverPort) ?? serverPort;
}
