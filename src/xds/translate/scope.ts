// Which services a proxy sees: exportTo honoured ("." = own namespace only, "*" = everyone).
import type { MeshModel, ProxyContext, Service } from '../model.js';

export function isVisible(svc: Service, proxy: ProxyContext): boolean {
  const exportTo = svc.exportTo ?? ['*'];
  return exportTo.some((e) => e === '*' || (e === '.' && svc.namespace === proxy.namespace) || e === proxy.namespace);
}

export function visibleServices(model: MeshModel, proxy: ProxyContext): Service[] {
  return [...model.services].filter((s) => isVisible(s, proxy)).sort((a, b) => a.hostname.localeCompare(b.hostname));
}
