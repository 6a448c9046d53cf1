// The gateway's credential fetcher: reads a credentialName Secret from the gateway's own
// namespace with its in-cluster ServiceAccount (the rendered Role grants `get` on Secrets
// there, nothing wider). A missing Secret is "no credential"; other errors are retried.
// A MUTUAL server's client CA comes from the Secret's ca.crt, else from `<name>-cacert`.
// @kubernetes/client-node is loaded on first use (~65 MB RSS): sidecars never serve a
// credentialName, and the module graph of a gateway without one stays small too.
import type * as k8s from '@kubernetes/client-node';
import { caFromSecretData, cacertSecretName, credentialFromSecretData, type CredentialFetcher } from './credentials.js';

export function kubeSecretFetcher(namespace: string, kc?: k8s.KubeConfig): CredentialFetcher {
  // Built on first use: a gateway that serves no credential never needs in-cluster config.
  let core: k8s.CoreV1Api | undefined;
  return async (name) => {
    if (!core) {
      const lib = await import('@kubernetes/client-node');
      core = (kc ?? inCluster(lib)).makeApiClient(lib.CoreV1Api);
    }
    const api = core;
    const read = async (n: string): Promise<Record<string, string> | undefined> => {
      try {
        return (await api.readNamespacedSecret({ name: n, namespace })).data ?? {};
      } catch (e) {
        if (httpCode(e) === 404) return undefined;
        throw e;
      }
    };
    const cred = credentialFromSecretData(await read(name));
    if (!cred || cred.caPem) return cred;
    const caPem = caFromSecretData(await read(cacertSecretName(name)));
    return caPem ? { ...cred, caPem } : cred;
  };
}

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown; statusCode?: unknown } | null)?.code ?? (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

function inCluster(lib: typeof k8s): k8s.KubeConfig {
  const kc = new lib.KubeConfig();
  kc.loadFromCluster();
  return kc;
}
