import { describe, expect, it } from '@jest/globals';
import { configRejectedCondition } from '../../../src/operator/config-rejected.js';
import { REJECTIONS_KEY } from '../../../src/api/rejections.js';

const cm = (text: string): { data: Record<string, string> } => ({ data: { [REJECTIONS_KEY]: text } });

describe('configRejectedCondition', () => {
  it('Unknown NoReport before the control plane has written anything', () => {
    expect(configRejectedCondition(undefined)).toMatchObject({ type: 'ConfigRejected', status: 'Unknown', reason: 'NoReport' });
  });
  it('False AllAccepted for an empty report', () => {
    expect(configRejectedCondition(cm('{"proxies":0,"count":0,"rejections":[]}'))).toMatchObject({ status: 'False', reason: 'AllAccepted' });
  });
  it('True with the first rejection and where to look', () => {
    const c = configRejectedCondition(cm(JSON.stringify({
      proxies: 1, count: 1,
      rejections: [{ node: 'sidecar~1~p.shop~shop.svc.cluster.local', pod: 'p', namespace: 'shop', type: 'LDS', version: '7', message: 'unknown filter', at: '2026-11-23T10:00:00Z' }],
    })));
    expect(c.status).toBe('True');
    expect(c.reason).toBe('ProxiesRejectedConfig');
    expect(c.message).toContain('shop/p LDS version 7: unknown filter');
    expect(c.message).toContain('reason=XdsConfigRejected');
  });
  it('Unknown ReportUnreadable for a malformed report, naming the problem', () => {
    expect(configRejectedCondition(cm('nope'))).toMatchObject({ status: 'Unknown', reason: 'ReportUnreadable', message: expect.stringContaining('not JSON') });
  });
});
