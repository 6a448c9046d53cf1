// Request path normalisation with Envoy's semantics (normalize_path + merge_slashes +
// path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT), which is what Istio relies on
// against CVE-2020-8595 (fragment/query tricks) and CVE-2021-31920 (escaped slashes).
// The control plane turns these options on; a proxy that is not Envoy applies this function
// before matching routes or authorization rules.

/** Normalises a :path for matching. Returns the path without query or fragment. */
export function normalizeRequestPath(rawPath: string): string {
  // The path ends at '?' or '#': a rule on /admin must not miss "/admin?x" or "/admin#x".
  let p = rawPath;
  const cut = p.search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut);
  // Unescape %2F / %5C (slashes) and unreserved characters, like Envoy's UNESCAPE_AND_* action.
  p = p.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  p = p.replace(/%([0-9a-fA-F]{2})/g, (m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
  });
  p = p.replace(/\\/g, '/');
  if (!p.startsWith('/')) p = `/${p}`;
  // merge_slashes
  p = p.replace(/\/{2,}/g, '/');
  // RFC 3986 dot-segment removal (normalize_path)
  const out: string[] = [];
  const segments = p.split('/').slice(1);
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  });
  return `/${out.join('/')}`;
}
