import { describe, expect, it } from '@jest/globals';
import { parseDuration, resolveMeshConfigSpec, validateMeshConfig, revisionNameFor, versionSkew } from '../../../src/api/meshconfig.js';

const base = (spec: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'operator.weft.dev/v1alpha1',
  kind: 'MeshConfig',
  metadata: { name: 'default' },
  spec: { version: '1.0.0', ...spec },
});

function paths(spec: Record<string, unknown>): string[] {
  return validateMeshConfig(base(spec)).map((i) => i.path);
}
function messages(spec: Record<string, unknown>): string {
  return validateMeshConfig(base(spec)).map((i) => `${i.path}: ${i.message}`).join('\n');
}

describe('validateMeshConfig', () => {
  it('accepts a minimal and a full spec', () => {
    expect(validateMeshConfig(base({}))).toEqual([]);
    expect(
      validateMeshConfig(
        base({
          namespace: 'mesh',
          controlPlane: { replicas: 2, logLevel: 'debug', resources: { requests: { cpu: '100m', memory: '128Mi' } } },
          gateways: [
            { name: 'ingress', type: 'ingress', replicas: 2, serviceType: 'NodePort', labels: { istio: 'ingressgateway' }, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] },
            { name: 'egress', type: 'egress' },
          ],
          proxy: { concurrency: 2, interceptionMode: 'REDIRECT', excludeInboundPorts: [22], excludeOutboundCIDRs: ['10.0.0.0/8'], holdApplicationUntilProxyStarts: true },
          security: { trustDomain: 'example.org', mtlsMode: 'STRICT', workloadCertTTL: '1h', rootCertTTL: '8760h' },
          injection: { failurePolicy: 'Ignore' },
          telemetry: { accessLogs: true, tracing: { samplingPercent: 10.5, endpoint: 'otel.monitoring:4318', protocol: 'zipkin' } },
          updateStrategy: { type: 'RevisionBased', dataPlaneRollout: { mode: 'Automatic', batchSize: 2, healthGate: { minSuccessRatePercent: 99.5, maxP99LatencyMs: 250, observationWindow: '1m' } } },
        }),
      ),
    ).toEqual([]);
  });

  it('requires spec and spec.version', () => {
    expect(validateMeshConfig({ metadata: { name: 'x' } }).map((i) => i.path)).toEqual(['spec']);
    expect(paths({ version: undefined })).toContain('spec.version');
    expect(messages({ version: 'latest' })).toMatch(/spec.version: invalid value "latest": must be a semantic version/);
  });

  it('rejects a bad metadata.name', () => {
    const issues = validateMeshConfig({ ...base({}), metadata: { name: 'Bad_Name' } });
    expect(issues.map((i) => i.path)).toEqual(['metadata.name']);
  });

  it('rejects unknown fields, naming them', () => {
    expect(messages({ controlPlain: {} })).toMatch(/spec.controlPlain: unknown field/);
    expect(messages({ proxy: { conncurrency: 2 } })).toMatch(/spec.proxy.conncurrency: unknown field/);
  });

  it.each([
    [{ namespace: 'Bad' }, 'spec.namespace'],
    [{ namespace: 'kube-system' }, 'spec.namespace'],
    [{ controlPlane: { replicas: -1 } }, 'spec.controlPlane.replicas'],
    [{ controlPlane: { replicas: 1.5 } }, 'spec.controlPlane.replicas'],
    [{ controlPlane: { logLevel: 'loud' } }, 'spec.controlPlane.logLevel'],
    [{ controlPlane: { resources: { requests: { cpu: 'lots' } } } }, 'spec.controlPlane.resources.requests.cpu'],
    [{ gateways: {} }, 'spec.gateways'],
    [{ gateways: [{ type: 'ingress' }] }, 'spec.gateways[0].name'],
    [{ gateways: [{ name: 'a', type: 'sideways' }] }, 'spec.gateways[0].type'],
    [{ gateways: [{ name: 'a', type: 'ingress', serviceType: 'Magic' }] }, 'spec.gateways[0].serviceType'],
    [{ gateways: [{ name: 'a', type: 'ingress', ports: [{ name: 'p', port: 70000 }] }] }, 'spec.gateways[0].ports[0].port'],
    [{ gateways: [{ name: 'a', type: 'ingress', ports: [{ name: 'p', port: 80 }, { name: 'q', port: 80 }] }] }, 'spec.gateways[0].ports[1].port'],
    [{ gateways: [{ name: 'a', type: 'ingress', ports: [{ name: 'p', port: 80, nodePort: 30000 }] }] }, 'spec.gateways[0].ports[0].nodePort'],
    [{ gateways: [{ name: 'a', type: 'ingress', labels: { istio: 'not ok' } }] }, 'spec.gateways[0].labels.istio'],
    [{ proxy: { concurrency: 100 } }, 'spec.proxy.concurrency'],
    [{ proxy: { interceptionMode: 'TPROXY' } }, 'spec.proxy.interceptionMode'],
    [{ proxy: { excludeInboundPorts: [0] } }, 'spec.proxy.excludeInboundPorts[0]'],
    [{ proxy: { excludeOutboundCIDRs: ['10.0.0.0'] } }, 'spec.proxy.excludeOutboundCIDRs[0]'],
    [{ proxy: { holdApplicationUntilProxyStarts: 'yes' } }, 'spec.proxy.holdApplicationUntilProxyStarts'],
    [{ proxy: { version: '1.9.0' } }, 'spec.proxy.version'],
    [{ security: { trustDomain: 'Not A Domain' } }, 'spec.security.trustDomain'],
    [{ security: { mtlsMode: 'DISABLE' } }, 'spec.security.mtlsMode'],
    [{ security: { workloadCertTTL: '30s' } }, 'spec.security.workloadCertTTL'],
    [{ security: { rootCertTTL: '9m' } }, 'spec.security.rootCertTTL'],
    [{ security: { workloadCertTTL: 'one day' } }, 'spec.security.workloadCertTTL'],
    [{ security: { rootCertTTL: '1h' } }, 'spec.security.rootCertTTL'],
    [{ injection: { failurePolicy: 'Maybe' } }, 'spec.injection.failurePolicy'],
    [{ injection: { namespaceLabel: 'a/b/c' } }, 'spec.injection.namespaceLabel'],
    [{ injection: { namespaceLabel: 'x', revisionLabel: 'x' } }, 'spec.injection.revisionLabel'],
    [{ telemetry: { accessLogs: 1 } }, 'spec.telemetry.accessLogs'],
    [{ telemetry: { tracing: { samplingPercent: 101 } } }, 'spec.telemetry.tracing.samplingPercent'],
    [{ telemetry: { tracing: { endpoint: 'no-port' } } }, 'spec.telemetry.tracing.endpoint'],
    [{ telemetry: { tracing: { protocol: 'jaeger' } } }, 'spec.telemetry.tracing.protocol'],
    [{ updateStrategy: { type: 'BlueGreen' } }, 'spec.updateStrategy.type'],
    [{ updateStrategy: { maxVersionSkew: 11 } }, 'spec.updateStrategy.maxVersionSkew'],
    [{ updateStrategy: { revisionGracePeriod: 'soon' } }, 'spec.updateStrategy.revisionGracePeriod'],
    [{ updateStrategy: { dataPlaneRollout: { mode: 'Yolo' } } }, 'spec.updateStrategy.dataPlaneRollout.mode'],
    [{ updateStrategy: { dataPlaneRollout: { batchSize: 0 } } }, 'spec.updateStrategy.dataPlaneRollout.batchSize'],
    [{ updateStrategy: { dataPlaneRollout: { healthGate: { minSuccessRatePercent: 120 } } } }, 'spec.updateStrategy.dataPlaneRollout.healthGate.minSuccessRatePercent'],
    [{ updateStrategy: { dataPlaneRollout: { healthGate: { maxP99LatencyMs: 0 } } } }, 'spec.updateStrategy.dataPlaneRollout.healthGate.maxP99LatencyMs'],
    [{ updateStrategy: { dataPlaneRollout: { healthGate: { observationWindow: '1 minute' } } } }, 'spec.updateStrategy.dataPlaneRollout.healthGate.observationWindow'],
  ])('rejects %j at %s', (spec, path) => {
    expect(paths(spec)).toContain(path);
  });

  it('explains duplicate gateway names and short TTLs', () => {
    expect(messages({ gateways: [{ name: 'gw', type: 'ingress' }, { name: 'gw', type: 'egress' }] })).toMatch(
      /spec.gateways\[1\].name: duplicate gateway name "gw" \(also spec.gateways\[0\].name\)/,
    );
    expect(messages({ security: { workloadCertTTL: '59s' } })).toMatch(/workloadCertTTL: 59s is too short: must be at least 1m/);
    expect(messages({ security: { workloadCertTTL: '1m', rootCertTTL: '9m59s' } })).toMatch(/rootCertTTL: 9m59s is too short: must be at least 10m/);
    expect(paths({ security: { workloadCertTTL: '1m' } })).toEqual([]);
    expect(messages({ updateStrategy: { type: 'Canary' } })).toMatch(/must be one of InPlace, RevisionBased/);
  });
});

describe('meshconfig helpers', () => {
  it('parses Go durations', () => {
    expect(parseDuration('24h')).toBe(86400000);
    expect(parseDuration('1h30m')).toBe(5400000);
    expect(parseDuration('10m')).toBe(600000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
  it('computes version skew and revision names', () => {
    expect(versionSkew('1.2.0', '1.4.9')).toBe(2);
    expect(versionSkew('1.2.0', '2.0.0')).toBe(98);
    expect(revisionNameFor('default', { version: '1.2.0' })).toBe('default');
    expect(revisionNameFor('default', { version: '1.2.0', updateStrategy: { type: 'RevisionBased' } })).toBe('default-1-2-0');
  });
  it('resolves defaults', () => {
    const r = resolveMeshConfigSpec({ version: '1.0.0', gateways: [{ name: 'ingress', type: 'ingress' }] });
    expect(r.namespace).toBe('weft-system');
    expect(r.security).toEqual({ trustDomain: 'cluster.local', mtlsMode: 'PERMISSIVE', workloadCertTTL: '24h', rootCertTTL: '87600h' });
    expect(r.gateways[0]?.ports.map((p) => p.port)).toEqual([15021, 80, 443]);
    expect(r.proxy.image).toBe('ghcr.io/weft/weft:1.0.0');
    expect(r.updateStrategy.type).toBe('InPlace');
  });
});
