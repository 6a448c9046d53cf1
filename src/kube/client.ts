// Thin wrapper over @kubernetes/client-node: load a kubeconfig and build typed API clients.
// Callers receive a KubeClients object through their constructors.
import * as k8s from '@kubernetes/client-node';

export interface KubeClients {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  coordination: k8s.CoordinationV1Api;
  admissionReg: k8s.AdmissionregistrationV1Api;
  authn: k8s.AuthenticationV1Api;
  apiext: k8s.ApiextensionsV1Api;
  custom: k8s.CustomObjectsApi;
  objects: k8s.KubernetesObjectApi;
}

export interface LoadOptions {
  kubeconfig?: string;
  context?: string;
}

export function loadKubeConfig(opts: LoadOptions = {}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  return kc;
}

export function makeClients(kc: k8s.KubeConfig): KubeClients {
  return {
    config: kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    admissionReg: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
    authn: kc.makeApiClient(k8s.AuthenticationV1Api),
    apiext: kc.makeApiClient(k8s.ApiextensionsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}
