// Label and annotation names that are part of Weft's user-facing contract.
export const GROUP = 'weft.dev';
export const INJECTION_LABEL = 'weft.dev/injection'; // namespace: "enabled" | "disabled"
export const REVISION_LABEL = 'weft.dev/rev'; // namespace: revision name
export const POD_INJECT_LABEL = 'sidecar.weft.dev/inject'; // pod: "true" | "false"
export const INJECTION_STATUS_ANNOTATION = 'sidecar.weft.dev/status';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'weft-operator';
export const PROCESS_KUBELET_TAINT = 'weft.dev/process-kubelet';
