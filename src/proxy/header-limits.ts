// Envoy's per-request header limits, from the HTTP connection manager: max_request_headers_kb
// and common_http_protocol_options.max_headers_count. HTTP/1 enforces them in its parsers; for
// HTTP/2 the SETTINGS_MAX_HEADER_LIST_SIZE we advertise is only advice to the peer (nghttp2
// lets a larger block through), so the decoded header block is checked here before routing.

export interface HeaderLimits {
  /** Bytes of names + values (HTTP/2: pseudo-headers included, as the request line is for HTTP/1). */
  maxHeaderBytes: number;
  /** Regular header fields; pseudo-headers (:method, :path, ...) do not count. */
  maxHeaders: number;
}

/** Envoy's defaults: 60 KiB and 100 headers. */
export const DEFAULT_HEADER_LIMITS: Readonly<HeaderLimits> = Object.freeze({ maxHeaderBytes: 60 * 1024, maxHeaders: 100 });

/**
 * Why an HTTP/2 header block breaks the limits, or undefined when it does not.
 * rawHeaders is node:http2's flat [name, value, name, value, ...] list.
 */
export function h2HeaderViolation(rawHeaders: readonly string[], limits: HeaderLimits): string | undefined {
  let bytes = 0;
  let count = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    bytes += name.length + rawHeaders[i + 1]!.length;
    if (!name.startsWith(':')) count++;
  }
  if (count > limits.maxHeaders) return `${count} headers, more than max_headers_count ${limits.maxHeaders}`;
  if (bytes > limits.maxHeaderBytes) return `${bytes} header bytes, more than the ${limits.maxHeaderBytes}-byte max_request_headers_kb`;
  return undefined;
}
