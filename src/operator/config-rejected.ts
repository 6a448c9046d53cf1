// The ConfigRejected condition, from the control plane's rejection report (ConfigMap
// weft-xds-rejections in the mesh namespace; see src/api/rejections.ts). Pure.
import { describeRejections, parseRejectionReport, REJECTIONS_KEY } from '../api/rejections.js';
import { errorMessage } from '../errors/errors.js';
import type { ConditionInput } from './status.js';

export function configRejectedCondition(configMap: { data?: Record<string, string> } | undefined): ConditionInput {
  const text = configMap?.data?.[REJECTIONS_KEY];
  if (text === undefined) {
    return { type: 'ConfigRejected', status: 'Unknown', reason: 'NoReport', message: 'the control plane has not reported proxy config acceptance yet' };
  }
  try {
    const r = parseRejectionReport(text);
    return r.count > 0
      ? { type: 'ConfigRejected', status: 'True', reason: 'ProxiesRejectedConfig', message: `${describeRejections(r)} (kubectl get events --field-selector reason=XdsConfigRejected -A)` }
      : { type: 'ConfigRejected', status: 'False', reason: 'AllAccepted', message: describeRejections(r) };
  } catch (e) {
    return { type: 'ConfigRejected', status: 'Unknown', reason: 'ReportUnreadable', message: errorMessage(e) };
  }
}
