// Which namespaces get the trust bundle ConfigMap, and the CA serving cert's IP SANs: the
// seams between the control plane entrypoint, the injector (which mounts the ConfigMap) and
// proxies that dial the CA by IP.
import { describe, expect, it } from '@jest/globals';
import { isMeshNamespace } from '../../../src/ca/bundle.js';
import { caServingIps, rotationTickMs } from '../../../src/cmd/controlplane.js';

describe('isMeshNamespace', () => {
  it.each([
    [{ 'weft.dev/injection': 'enabled' }, true],
    [{ 'weft.dev/rev': 'canary' }, true],
    [{ 'weft.dev/injection': 'disabled', 'weft.dev/rev': 'canary' }, false],
    [{ 'weft.dev/injection': 'yes' }, false],
    [{}, false],
    [undefined, false],
  ])('%j -> %s', (labels, want) => {
    expect(isMeshNamespace(labels)).toBe(want);
  });
});

describe('caServingIps', () => {
  it('adds a concrete listen IP to loopback', () => {
    expect(caServingIps('10.88.0.1')).toEqual(['127.0.0.1', '10.88.0.1']);
  });
  it('ignores wildcards, loopback duplicates and host names', () => {
    expect(caServingIps('0.0.0.0')).toEqual(['127.0.0.1']);
    expect(caServingIps('::')).toEqual(['127.0.0.1']);
    expect(caServingIps('127.0.0.1')).toEqual(['127.0.0.1']);
    expect(caServingIps('localhost')).toEqual(['127.0.0.1']);
  });
});

describe('rotationTickMs (--rotation-tick-seconds)', () => {
  it('turns seconds into milliseconds', () => {
    expect(rotationTickMs('2')).toBe(2000);
    expect(rotationTickMs('0.5')).toBe(500);
  });
  it.each(['0', '-1', 'abc', ''])('rejects %j with a clear error', (v) => {
    expect(() => rotationTickMs(v)).toThrow('--rotation-tick-seconds must be a positive number of seconds');
  });
});
