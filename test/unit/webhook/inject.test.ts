import { describe, expect, it } from '@jest/globals';
import jsonpatch from 'fast-json-patch';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { defaultInjectionConfig, parseIptablesArgs, PROXY_CONTAINER_NAME, INIT_CONTAINER_NAME } from '../../../src/api/injection.js';
import { injectPod, parseInjectionStatus, InjectionError } from '../../../src/render/inject/inject.js';
import { isWeftError } from '../../../src/errors/errors.js';
import { samplePod } from './fixtures.js';

const cfg = defaultInjectionConfig({ hub: 'registry.test/weft', version: '1.2.3' });

function proxyOf(pod: V1Pod): V1Container {
  const c = [...(pod.spec!.initContainers ?? []), ...pod.spec!.containers].find((x) => x.name === PROXY_CONTAINER_NAME);
  if (!c) throw new Error('no proxy');
  return c;
}
function env(c: V1Container, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

describe('injectPod', () => {
  it('never mutates its input', () => {
    const input = samplePod();
    const frozen = JSON.stringify(input);
    injectPod(input, cfg);
    expect(JSON.stringify(input)).toBe(frozen);
  });

  it('is idempotent: injecting an injected pod is a no-op with a named reason', () => {
    const once = injectPod(samplePod(), cfg).pod;
    const twice = injectPod(once, cfg);
    expect(twice.report).toMatchObject({ injected: false, reason: 'AlreadyInjected' });
    expect(twice.pod).toEqual(once);
    expect(jsonpatch.compare(once, twice.pod)).toEqual([]);
  });

  it('puts a native sidecar after the iptables init container and before the app', () => {
    const { pod, report } = injectPod(samplePod(), cfg);
    expect(report).toMatchObject({ injected: true, native: true, version: '1.2.3' });
    expect(pod.spec!.initContainers!.map((c) => c.name)).toEqual([INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME]);
    const proxy = proxyOf(pod);
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.image).toBe('registry.test/weft/weft:1.2.3');
    expect(proxy.args).toEqual(['proxy', 'sidecar']);
    expect(proxy.startupProbe?.httpGet?.port).toBe(15021);
  });

  it('falls back to a classic container with hold-until-ready and a preStop drain', () => {
    const { pod, report } = injectPod(samplePod(), { ...cfg, nativeSidecars: false });
    expect(report.native).toBe(false);
    expect(pod.spec!.containers[0]!.name).toBe(PROXY_CONTAINER_NAME);
    const proxy = proxyOf(pod);
    expect(proxy.restartPolicy).toBeUndefined();
    expect(proxy.lifecycle?.postStart?.exec?.command).toEqual(['weft', 'proxy', 'wait', '--timeout-seconds', '60']);
    expect(proxy.lifecycle?.preStop?.exec?.command?.slice(0, 3)).toEqual(['weft', 'proxy', 'drain']);
    expect(env(proxy, 'WEFT_HOLD_APPLICATION')).toBe('true');
  });

  it('runs the proxy locked down and gives only the init container NET_ADMIN/NET_RAW', () => {
    const { pod } = injectPod(samplePod(), cfg);
    const sc = proxyOf(pod).securityContext!;
    expect(sc).toMatchObject({ runAsUser: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(sc.capabilities).toEqual({ drop: ['ALL'] });
    const init = pod.spec!.initContainers![0]!;
    expect(init.securityContext!.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  });

  it('passes iptables flags the proxy can parse, with the proxy UID excluded', () => {
    const pod = samplePod({ annotations: { 'traffic.sidecar.weft.dev/excludeOutboundIPRanges': '10.96.0.1/32', 'traffic.sidecar.weft.dev/excludeInboundPorts': '9000' } });
    const init = injectPod(pod, cfg).pod.spec!.initContainers![0]!;
    expect(init.args!.slice(0, 2)).toEqual(['proxy', 'iptables']);
    const parsed = parseIptablesArgs(init.args!.slice(2));
    expect(parsed).toMatchObject({ proxyUid: 1337, inboundCapturePort: 15006, outboundCapturePort: 15001, excludeOutboundCidrs: ['10.96.0.1/32'] });
    expect(parsed.excludeInboundPorts).toEqual([9000, 15021, 15090]);
  });

  it('wires bootstrap env, the weft-ca token and the trust bundle', () => {
    const { pod } = injectPod(samplePod(), { ...cfg, xdsAddress: 'cp:15010', caAddress: 'cp:15012', trustDomain: 'example.org' });
    const proxy = proxyOf(pod);
    expect(env(proxy, 'WEFT_XDS_ADDRESS')).toBe('cp:15010');
    expect(env(proxy, 'WEFT_CA_ADDRESS')).toBe('cp:15012');
    expect(env(proxy, 'WEFT_TRUST_DOMAIN')).toBe('example.org');
    expect(proxy.env!.find((e) => e.name === 'WEFT_POD_IP')!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
    const vols = pod.spec!.volumes!;
    expect(vols.find((v) => v.name === 'weft-ca-token')!.projected!.sources![0]!.serviceAccountToken!.audience).toBe('weft-ca');
    expect(vols.find((v) => v.name === 'weft-trust-bundle')!.configMap!.name).toBe('weft-ca-root-cert');
  });

  it('passes MeshConfig tracing to the proxy only when a collector is configured', () => {
    const off = proxyOf(injectPod(samplePod(), { ...cfg, tracing: { samplingPercent: 1, endpoint: '', protocol: 'otlp' } }).pod);
    expect(off.env!.filter((e) => e.name.startsWith('WEFT_TRACING_'))).toEqual([]);
    const on = proxyOf(injectPod(samplePod(), { ...cfg, tracing: { samplingPercent: 2.5, endpoint: 'zipkin.obs:9411', protocol: 'zipkin' } }).pod);
    expect([env(on, 'WEFT_TRACING_ENDPOINT'), env(on, 'WEFT_TRACING_SAMPLING'), env(on, 'WEFT_TRACING_PROTOCOL')]).toEqual(['zipkin.obs:9411', '2.5', 'zipkin']);
  });

  it('rewrites HTTP probes to the health port and keeps the originals in env', () => {
    const { pod } = injectPod(samplePod(), cfg);
    const app = pod.spec!.containers.find((c) => c.name === 'web')!;
    expect(app.readinessProbe!.httpGet).toEqual({ path: '/app-health/web/readyz', port: 15021, scheme: 'HTTP' });
    expect(app.readinessProbe!.periodSeconds).toBe(5);
    const probes = JSON.parse(env(proxyOf(pod), 'WEFT_APP_PROBES')!) as Record<string, unknown>;
    expect(probes['/app-health/web/readyz']).toEqual({ httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' } });
  });

  it('records what it injected in the status annotation', () => {
    const status = parseInjectionStatus(injectPod(samplePod(), cfg).pod);
    expect(status).toEqual({
      version: '1.2.3', revision: 'default', native: true,
      initContainers: ['weft-init', 'weft-proxy'], containers: [],
      volumes: ['weft-ca-token', 'weft-trust-bundle', 'weft-podinfo', 'weft-data'],
    });
  });

  it('yields a JSON patch that reproduces the injected pod', () => {
    const input = samplePod({ annotations: { 'prometheus.io/port': '9100' } });
    const { pod } = injectPod(input, cfg);
    const ops = jsonpatch.compare(input, pod);
    const applied = jsonpatch.applyPatch(structuredClone(input), ops, true, false).newDocument;
    expect(applied).toEqual(pod);
  });

  it.each([
    ['sidecar.weft.dev/proxyMemory', '1 GB', 'annotation sidecar.weft.dev/proxyMemory: "1 GB" is not a Kubernetes quantity'],
    ['sidecar.weft.dev/logLevel', 'loud', 'annotation sidecar.weft.dev/logLevel: "loud" is not a log level'],
    ['traffic.sidecar.weft.dev/excludeOutboundPorts', '53,abc', 'annotation traffic.sidecar.weft.dev/excludeOutboundPorts: "abc" is not a port number'],
    ['traffic.sidecar.weft.dev/includeInboundPorts', '70000', 'port 70000 is out of range'],
    ['traffic.sidecar.weft.dev/excludeOutboundIPRanges', '10.0.0.0', '"10.0.0.0" is not a CIDR'],
    ['sidecar.weft.dev/nativeSidecar', 'maybe', 'is not a boolean'],
  ])('rejects %s=%j with a message naming the annotation', (key, value, msg) => {
    let err: unknown;
    try {
      injectPod(samplePod({ annotations: { [key]: value } }), cfg);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InjectionError);
    expect(isWeftError(err, 'WEFT_E_INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toContain(msg);
  });
});
