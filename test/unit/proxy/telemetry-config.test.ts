// MeshConfig telemetry (tracing, access logs) reaches the proxy the way every other proxy setting does:
// resolved spec -> InjectionConfig (operator) -> injected env (webhook) -> bootstrap (proxy).
import { describe, expect, it } from '@jest/globals';
import { resolveMeshConfigSpec } from '../../../src/api/meshconfig.js';
import { injectionConfigFor } from '../../../src/render/controlplane/render.js';
import { injectPod } from '../../../src/render/inject/inject.js';
import { bootstrapFromEnv } from '../../../src/proxy/bootstrap.js';
import { PROXY_CONTAINER_NAME } from '../../../src/api/injection.js';
import { samplePod } from '../webhook/fixtures.js';

function proxyEnv(spec: Parameters<typeof resolveMeshConfigSpec>[0]): Record<string, string | undefined> {
  const cfg = injectionConfigFor(resolveMeshConfigSpec(spec), { name: 'default', version: spec.version });
  const { pod } = injectPod(samplePod(), cfg);
  const c = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((x) => x.name === PROXY_CONTAINER_NAME)!;
  // What the kubelet would resolve for the fieldRef variables.
  const env: Record<string, string | undefined> = { WEFT_POD_NAME: 'p', WEFT_POD_NAMESPACE: 'ns', WEFT_POD_IP: '10.0.0.9' };
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

describe('tracing configuration path', () => {
  it('MeshConfig with a collector -> the proxy bootstrap carries endpoint, sampling and protocol', () => {
    const env = proxyEnv({ version: '1.0.0', telemetry: { tracing: { endpoint: 'zipkin.obs:9411', samplingPercent: 7, protocol: 'zipkin' } } });
    expect(bootstrapFromEnv(env, 'sidecar').tracing).toEqual({ endpoint: 'zipkin.obs:9411', samplingPercent: 7, protocol: 'zipkin' });
  });

  it('MeshConfig without a collector -> tracing off in the proxy (default 1%, otlp, no endpoint)', () => {
    const env = proxyEnv({ version: '1.0.0' });
    expect(Object.keys(env).filter((k) => k.startsWith('WEFT_TRACING_'))).toEqual([]);
    expect(bootstrapFromEnv(env, 'sidecar').tracing).toEqual({ endpoint: '', samplingPercent: 1, protocol: 'otlp' });
  });
});

describe('access log configuration path', () => {
  it('telemetry.accessLogs: true -> WEFT_ACCESS_LOG=true -> the proxy bootstrap turns JSON access logs on', () => {
    const env = proxyEnv({ version: '1.0.0', telemetry: { accessLogs: true } });
    expect(env.WEFT_ACCESS_LOG).toBe('true');
    expect(bootstrapFromEnv(env, 'sidecar').accessLog).toBe(true);
  });

  it('default (off): no variable is injected and the bootstrap says off', () => {
    const env = proxyEnv({ version: '1.0.0' });
    expect(env.WEFT_ACCESS_LOG).toBeUndefined();
    expect(bootstrapFromEnv(env, 'sidecar').accessLog).toBe(false);
  });

  it('a value other than true/false is a clear error naming the variable', () => {
    const env = { ...proxyEnv({ version: '1.0.0' }), WEFT_ACCESS_LOG: 'yes' };
    expect(() => bootstrapFromEnv(env, 'sidecar')).toThrow(/WEFT_ACCESS_LOG must be true or false/);
  });
});
