// Istio host resolution, shared by the control plane's translation and weftctl's analyzer so
// both read a config's short hosts the same way.

/** Resolves a short host (`reviews`, `reviews.ns`, `reviews.ns.svc`) written in `namespace` to an FQDN. */
export function resolveHost(host: string, namespace: string, domain = 'cluster.local'): string {
  if (host.includes('*')) return host;
  const parts = host.split('.');
  if (parts.length === 1) return `${host}.${namespace}.svc.${domain}`;
  if (parts.length === 2) return `${host}.svc.${domain}`;
  if (parts.length === 3 && parts[2] === 'svc') return `${host}.${domain}`;
  return host;
}
