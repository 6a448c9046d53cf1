// weft controlplane --outbound-traffic-policy: Istio's meshConfig.outboundTrafficPolicy.mode.
import { describe, expect, it } from '@jest/globals';
import { parseOutboundTrafficPolicy } from '../../../src/cmd/controlplane.js';
import { WeftError } from '../../../src/errors/errors.js';

describe('parseOutboundTrafficPolicy', () => {
  it('takes the two Istio modes, in any case', () => {
    expect(parseOutboundTrafficPolicy('ALLOW_ANY')).toBe('ALLOW_ANY');
    expect(parseOutboundTrafficPolicy('registry_only')).toBe('REGISTRY_ONLY');
  });
  it.each(['', 'ALLOW', 'DENY_ALL', 'REGISTRY-ONLY'])('refuses %j with a specific error', (v) => {
    let err: unknown;
    try { parseOutboundTrafficPolicy(v); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WeftError);
    expect((err as WeftError).code).toBe('WEFT_E_INVALID_INPUT');
    expect((err as WeftError).message).toContain('ALLOW_ANY or REGISTRY_ONLY');
  });
});
