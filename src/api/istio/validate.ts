// Pure validators for the Istio kinds Weft implements: `(obj) => ValidationIssue[]`.
// Errors name the field (path) and say how to fix it. Fields Weft does not implement yet
// are reported by `unsupportedFieldWarnings` (a warning, never silence).
import type { ValidationIssue, Validator } from '../validation.js';
import type { IstioKind } from './types.js';
import { parseJwks } from '../jwks.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

class Issues {
  readonly list: ValidationIssue[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
}

const DURATION = /^\d+(\.\d+)?(h|m|s|ms|us|µs|ns)$/;

function checkRegex(is: Issues, path: string, re: unknown): void {
  if (typeof re !== 'string') return;
  try {
    new RegExp(re);
  } catch (e) {
    is.add(path, `invalid regular expression: ${(e as Error).message}`);
  }
}

function checkStringMatch(is: Issues, path: string, m: unknown): void {
  if (!isObj(m)) {
    is.add(path, 'must be an object with one of exact, prefix, regex');
    return;
  }
  const set = ['exact', 'prefix', 'regex'].filter((k) => m[k] !== undefined);
  if (set.length > 1) is.add(path, `only one of exact, prefix, regex may be set (got ${set.join(', ')})`);
  checkRegex(is, `${path}.regex`, m['regex']);
}

function checkDuration(is: Issues, path: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'string' || !DURATION.test(v)) is.add(path, `invalid duration ${JSON.stringify(v)}: use a number and a unit, e.g. "1.5s" or "100ms"`);
}

function checkPercent(is: Issues, path: string, v: unknown): void {
  if (v === undefined) return;
  const value = isObj(v) ? v['value'] : undefined;
  if (typeof value !== 'number' || value < 0 || value > 100) is.add(`${path}.value`, 'percentage must be a number between 0 and 100');
}

function checkPort(is: Issues, path: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) is.add(path, 'port must be an integer between 1 and 65535');
}

function checkEnum(is: Issues, path: string, v: unknown, allowed: readonly string[]): void {
  if (v === undefined) return;
  if (typeof v !== 'string' || !allowed.includes(v)) is.add(path, `unknown value ${JSON.stringify(v)}; expected one of ${allowed.join(', ')}`);
}

function checkHost(is: Issues, path: string, v: unknown): void {
  if (typeof v !== 'string' || v === '') {
    is.add(path, 'host is required');
    return;
  }
  if (v !== '*' && !/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/i.test(v)) is.add(path, `invalid host ${JSON.stringify(v)}`);
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function specOf(is: Issues, obj: unknown): Obj | undefined {
  if (!isObj(obj)) {
    is.add('', 'must be an object');
    return undefined;
  }
  const spec = obj['spec'];
  if (!isObj(spec)) {
    is.add('spec', 'spec is required');
    return undefined;
  }
  return spec;
}

function checkDestination(is: Issues, path: string, d: unknown): void {
  if (!isObj(d)) {
    is.add(path, 'destination is required');
    return;
  }
  checkHost(is, `${path}.host`, d['host']);
  if (d['port'] !== undefined) checkPort(is, `${path}.port.number`, isObj(d['port']) ? d['port']['number'] : d['port']);
}

function checkWeights(is: Issues, path: string, routes: unknown[]): void {
  routes.forEach((r, i) => checkDestination(is, `${path}[${i}].destination`, isObj(r) ? r['destination'] : undefined));
  if (routes.length <= 1) {
    const w = isObj(routes[0]) ? routes[0]['weight'] : undefined;
    if (w !== undefined && w !== 100 && w !== 0) is.add(`${path}[0].weight`, 'a single destination takes all traffic: weight must be 100 or unset');
    return;
  }
  let sum = 0;
  routes.forEach((r, i) => {
    const w = isObj(r) ? r['weight'] : undefined;
    if (w === undefined) return;
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0) is.add(`${path}[${i}].weight`, 'weight must be a non-negative integer');
    else sum += w;
  });
  if (sum !== 100) is.add(path, `route weights must sum to 100 (they sum to ${sum})`);
}

export const validateVirtualService: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  const hosts = arr(spec['hosts']);
  if (hosts.length === 0) is.add('spec.hosts', 'at least one host is required');
  hosts.forEach((h, i) => checkHost(is, `spec.hosts[${i}]`, h));
  if (!spec['http'] && !spec['tcp'] && !spec['tls']) is.add('spec', 'one of http, tcp or tls routes is required');
  arr(spec['http']).forEach((r, i) => {
    const p = `spec.http[${i}]`;
    if (!isObj(r)) return is.add(p, 'must be an object');
    const actions = ['route', 'redirect', 'directResponse'].filter((k) => r[k] !== undefined);
    if (actions.length === 0) is.add(p, 'one of route, redirect or directResponse is required');
    if (actions.length > 1) is.add(p, `route, redirect and directResponse are exclusive (got ${actions.join(', ')})`);
    if (r['redirect'] && r['rewrite']) is.add(`${p}.rewrite`, 'rewrite cannot be combined with redirect');
    arr(r['match']).forEach((m, j) => {
      const mp = `${p}.match[${j}]`;
      if (!isObj(m)) return is.add(mp, 'must be an object');
      for (const k of ['uri', 'scheme', 'method', 'authority']) if (m[k] !== undefined) checkStringMatch(is, `${mp}.${k}`, m[k]);
      for (const k of ['headers', 'queryParams', 'withoutHeaders']) {
        if (m[k] === undefined) continue;
        if (!isObj(m[k])) is.add(`${mp}.${k}`, 'must be a map of name to string match');
        else for (const [hk, hv] of Object.entries(m[k])) {
          if (k !== 'queryParams' && hk !== hk.toLowerCase()) is.add(`${mp}.${k}.${hk}`, 'header names must be lowercase');
          checkStringMatch(is, `${mp}.${k}.${hk}`, hv);
        }
      }
      checkPort(is, `${mp}.port`, m['port']);
    });
    if (r['route'] !== undefined) checkWeights(is, `${p}.route`, arr(r['route']));
    checkDuration(is, `${p}.timeout`, r['timeout']);
    if (isObj(r['retries'])) {
      const a = r['retries']['attempts'];
      if (a !== undefined && (typeof a !== 'number' || !Number.isInteger(a) || a < 0)) is.add(`${p}.retries.attempts`, 'attempts must be a non-negative integer');
      checkDuration(is, `${p}.retries.perTryTimeout`, r['retries']['perTryTimeout']);
    }
    if (isObj(r['fault'])) {
      const f = r['fault'];
      if (!f['delay'] && !f['abort']) is.add(`${p}.fault`, 'fault needs delay or abort');
      if (isObj(f['delay'])) {
        if (f['delay']['fixedDelay'] === undefined) is.add(`${p}.fault.delay.fixedDelay`, 'fixedDelay is required');
        checkDuration(is, `${p}.fault.delay.fixedDelay`, f['delay']['fixedDelay']);
        checkPercent(is, `${p}.fault.delay.percentage`, f['delay']['percentage']);
      }
      if (isObj(f['abort'])) {
        const st = f['abort']['httpStatus'];
        if (st !== undefined && (typeof st !== 'number' || st < 200 || st > 599)) is.add(`${p}.fault.abort.httpStatus`, 'httpStatus must be between 200 and 599');
        if (st === undefined && f['abort']['grpcStatus'] === undefined) is.add(`${p}.fault.abort`, 'httpStatus or grpcStatus is required');
        checkPercent(is, `${p}.fault.abort.percentage`, f['abort']['percentage']);
      }
    }
    if (r['mirror'] !== undefined) checkDestination(is, `${p}.mirror`, r['mirror']);
    checkPercent(is, `${p}.mirrorPercentage`, r['mirrorPercentage']);
    if (isObj(r['redirect'])) {
      const code = r['redirect']['redirectCode'];
      if (code !== undefined && ![301, 302, 303, 307, 308].includes(code as number)) is.add(`${p}.redirect.redirectCode`, 'redirectCode must be 301, 302, 303, 307 or 308');
    }
    if (isObj(r['corsPolicy'])) {
      arr(r['corsPolicy']['allowOrigins']).forEach((o, j) => checkStringMatch(is, `${p}.corsPolicy.allowOrigins[${j}]`, o));
      checkDuration(is, `${p}.corsPolicy.maxAge`, r['corsPolicy']['maxAge']);
    }
    if (isObj(r['rewrite']) && isObj(r['rewrite']['uriRegexRewrite'])) checkRegex(is, `${p}.rewrite.uriRegexRewrite.match`, r['rewrite']['uriRegexRewrite']['match']);
  });
  arr(spec['tcp']).forEach((r, i) => {
    if (isObj(r)) checkWeights(is, `spec.tcp[${i}].route`, arr(r['route']));
  });
  arr(spec['tls']).forEach((r, i) => {
    if (!isObj(r)) return;
    const m = arr(r['match']);
    if (m.length === 0) is.add(`spec.tls[${i}].match`, 'tls routes need at least one match with sniHosts');
    m.forEach((mm, j) => {
      if (!isObj(mm) || arr(mm['sniHosts']).length === 0) is.add(`spec.tls[${i}].match[${j}].sniHosts`, 'sniHosts is required');
    });
    checkWeights(is, `spec.tls[${i}].route`, arr(r['route']));
  });
  return is.list;
};

const LB = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'];
const TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];

/** Istio's rules for localityLbSetting: distribute and failover exclusive, each `to` map sums to 100. */
function checkLocalityLb(is: Issues, p: string, l: unknown): void {
  if (!isObj(l)) return is.add(p, 'must be an object');
  const distribute = l['distribute'];
  const failover = l['failover'];
  if (distribute !== undefined && !Array.isArray(distribute)) is.add(`${p}.distribute`, 'must be a list');
  if (failover !== undefined && !Array.isArray(failover)) is.add(`${p}.failover`, 'must be a list');
  if (Array.isArray(distribute) && distribute.length > 0 && Array.isArray(failover) && failover.length > 0) {
    is.add(p, 'distribute and failover are exclusive');
  }
  if (Array.isArray(distribute)) {
    distribute.forEach((d, i) => {
      if (!isObj(d) || typeof d['from'] !== 'string' || !d['from']) return is.add(`${p}.distribute[${i}].from`, 'is required');
      const to = d['to'];
      if (!isObj(to) || Object.keys(to).length === 0) return is.add(`${p}.distribute[${i}].to`, 'must map at least one locality to a weight');
      let sum = 0;
      for (const [loc, w] of Object.entries(to)) {
        if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 100) is.add(`${p}.distribute[${i}].to[${loc}]`, 'weight must be an integer in [0, 100]');
        else sum += w;
      }
      if (sum !== 100) is.add(`${p}.distribute[${i}].to`, 'weights must add up to 100');
    });
  }
  if (Array.isArray(failover)) {
    failover.forEach((f, i) => {
      if (!isObj(f) || typeof f['from'] !== 'string' || !f['from'] || typeof f['to'] !== 'string' || !f['to']) {
        return is.add(`${p}.failover[${i}]`, 'from and to (regions) are required');
      }
      if (f['from'] === f['to']) is.add(`${p}.failover[${i}]`, 'from and to must differ');
      if (f['from'].includes('/') || f['to'].includes('/')) is.add(`${p}.failover[${i}]`, 'failover is between regions (no zone)');
    });
  }
  const fp = l['failoverPriority'];
  if (fp !== undefined && (!Array.isArray(fp) || fp.some((x) => typeof x !== 'string' || !x))) is.add(`${p}.failoverPriority`, 'must be a list of label keys');
  if (l['enabled'] !== undefined && typeof l['enabled'] !== 'boolean') is.add(`${p}.enabled`, 'must be a boolean');
}

function checkTrafficPolicy(is: Issues, p: string, tp: unknown): void {
  if (tp === undefined) return;
  if (!isObj(tp)) return is.add(p, 'must be an object');
  if (isObj(tp['loadBalancer'])) {
    const lb = tp['loadBalancer'];
    checkEnum(is, `${p}.loadBalancer.simple`, lb['simple'], LB);
    if (lb['simple'] !== undefined && lb['consistentHash'] !== undefined) is.add(`${p}.loadBalancer`, 'simple and consistentHash are exclusive');
    if (isObj(lb['consistentHash'])) {
      const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => lb['consistentHash'] && (lb['consistentHash'] as Obj)[k] !== undefined);
      if (keys.length !== 1) is.add(`${p}.loadBalancer.consistentHash`, 'exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName is required');
    }
    if (lb['localityLbSetting'] !== undefined) checkLocalityLb(is, `${p}.loadBalancer.localityLbSetting`, lb['localityLbSetting']);
  }
  if (isObj(tp['connectionPool'])) {
    const cp = tp['connectionPool'];
    if (isObj(cp['tcp'])) checkDuration(is, `${p}.connectionPool.tcp.connectTimeout`, cp['tcp']['connectTimeout']);
    if (isObj(cp['http'])) {
      checkDuration(is, `${p}.connectionPool.http.idleTimeout`, cp['http']['idleTimeout']);
      checkEnum(is, `${p}.connectionPool.http.h2UpgradePolicy`, cp['http']['h2UpgradePolicy'], ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']);
    }
  }
  if (isObj(tp['outlierDetection'])) {
    const od = tp['outlierDetection'];
    checkDuration(is, `${p}.outlierDetection.interval`, od['interval']);
    checkDuration(is, `${p}.outlierDetection.baseEjectionTime`, od['baseEjectionTime']);
    const mep = od['maxEjectionPercent'];
    if (mep !== undefined && (typeof mep !== 'number' || mep < 0 || mep > 100)) is.add(`${p}.outlierDetection.maxEjectionPercent`, 'must be between 0 and 100');
  }
  if (isObj(tp['tls'])) {
    checkEnum(is, `${p}.tls.mode`, tp['tls']['mode'], TLS_MODES);
    if (tp['tls']['mode'] === 'MUTUAL' && !tp['tls']['credentialName'] && !(tp['tls']['clientCertificate'] && tp['tls']['privateKey'])) {
      is.add(`${p}.tls`, 'MUTUAL needs credentialName or clientCertificate and privateKey');
    }
  }
  if (tp['retryBudget'] !== undefined) {
    const rb = tp['retryBudget'];
    if (!isObj(rb)) is.add(`${p}.retryBudget`, 'must be an object');
    else {
      const pct = rb['percent'];
      if (pct !== undefined && (typeof pct !== 'number' || !(pct >= 0 && pct <= 100))) is.add(`${p}.retryBudget.percent`, 'must be between 0 and 100');
      const min = rb['minRetryConcurrency'];
      if (min !== undefined && (typeof min !== 'number' || !Number.isInteger(min) || min < 0)) is.add(`${p}.retryBudget.minRetryConcurrency`, 'must be a non-negative integer');
    }
  }
  arr(tp['portLevelSettings']).forEach((pl, i) => {
    if (!isObj(pl) || !isObj(pl['port'])) return is.add(`${p}.portLevelSettings[${i}].port`, 'port is required');
    checkPort(is, `${p}.portLevelSettings[${i}].port.number`, pl['port']['number']);
    checkTrafficPolicy(is, `${p}.portLevelSettings[${i}]`, { ...pl, port: undefined, portLevelSettings: undefined });
  });
}

export const validateDestinationRule: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  checkHost(is, 'spec.host', spec['host']);
  checkTrafficPolicy(is, 'spec.trafficPolicy', spec['trafficPolicy']);
  const names = new Set<string>();
  arr(spec['subsets']).forEach((s, i) => {
    const p = `spec.subsets[${i}]`;
    if (!isObj(s) || typeof s['name'] !== 'string' || s['name'] === '') return is.add(`${p}.name`, 'subset name is required');
    if (names.has(s['name'])) is.add(`${p}.name`, `duplicate subset name ${s['name']}`);
    names.add(s['name']);
    checkTrafficPolicy(is, `${p}.trafficPolicy`, s['trafficPolicy']);
  });
  return is.list;
};

const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'TCP', 'TLS'];

function checkServerPort(is: Issues, p: string, port: unknown): void {
  if (!isObj(port)) return is.add(p, 'port is required');
  checkPort(is, `${p}.number`, port['number']);
  if (port['number'] === undefined) is.add(`${p}.number`, 'number is required');
  if (typeof port['protocol'] !== 'string' || !PROTOCOLS.includes(port['protocol'].toUpperCase())) is.add(`${p}.protocol`, `unknown protocol ${JSON.stringify(port['protocol'])}; expected one of ${PROTOCOLS.join(', ')}`);
}

export const validateGateway: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  const servers = arr(spec['servers']);
  if (servers.length === 0) is.add('spec.servers', 'at least one server is required');
  servers.forEach((s, i) => {
    const p = `spec.servers[${i}]`;
    if (!isObj(s)) return is.add(p, 'must be an object');
    checkServerPort(is, `${p}.port`, s['port']);
    const hosts = arr(s['hosts']);
    if (hosts.length === 0) is.add(`${p}.hosts`, 'at least one host is required');
    hosts.forEach((h, j) => checkHost(is, `${p}.hosts[${j}]`, typeof h === 'string' ? h.replace(/^[^/]*\//, '') : h));
    if (isObj(s['tls'])) {
      checkEnum(is, `${p}.tls.mode`, s['tls']['mode'], ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']);
      const mode = s['tls']['mode'];
      if ((mode === 'SIMPLE' || mode === 'MUTUAL') && !s['tls']['credentialName'] && !s['tls']['serverCertificate']) is.add(`${p}.tls.credentialName`, `${mode} needs credentialName (or serverCertificate and privateKey)`);
    }
    const proto = isObj(s['port']) && typeof s['port']['protocol'] === 'string' ? s['port']['protocol'].toUpperCase() : '';
    if (proto === 'HTTPS' && !isObj(s['tls'])) is.add(`${p}.tls`, 'an HTTPS server needs tls settings');
  });
  return is.list;
};

export const validateServiceEntry: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  const hosts = arr(spec['hosts']);
  if (hosts.length === 0) is.add('spec.hosts', 'at least one host is required');
  hosts.forEach((h, i) => checkHost(is, `spec.hosts[${i}]`, h));
  arr(spec['ports']).forEach((p, i) => checkServerPort(is, `spec.ports[${i}]`, p));
  checkEnum(is, 'spec.location', spec['location'], ['MESH_EXTERNAL', 'MESH_INTERNAL']);
  checkEnum(is, 'spec.resolution', spec['resolution'], ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN']);
  if (spec['resolution'] === 'STATIC' && arr(spec['endpoints']).length === 0 && !spec['workloadSelector']) is.add('spec.endpoints', 'resolution STATIC needs endpoints or a workloadSelector');
  if (spec['endpoints'] && spec['workloadSelector']) is.add('spec', 'endpoints and workloadSelector are exclusive');
  arr(spec['endpoints']).forEach((e, i) => {
    if (!isObj(e) || typeof e['address'] !== 'string' || e['address'] === '') is.add(`spec.endpoints[${i}].address`, 'address is required');
  });
  return is.list;
};

const MTLS = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export const validatePeerAuthentication: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  if (isObj(spec['mtls'])) checkEnum(is, 'spec.mtls.mode', spec['mtls']['mode'], MTLS);
  if (spec['portLevelMtls'] !== undefined) {
    if (!isObj(spec['selector'])) is.add('spec.portLevelMtls', 'portLevelMtls needs a workload selector');
    if (isObj(spec['portLevelMtls'])) {
      for (const [port, v] of Object.entries(spec['portLevelMtls'])) {
        checkPort(is, `spec.portLevelMtls[${port}]`, Number(port));
        if (isObj(v)) checkEnum(is, `spec.portLevelMtls[${port}].mode`, v['mode'], MTLS);
      }
    }
  }
  return is.list;
};

export const validateAuthorizationPolicy: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  checkEnum(is, 'spec.action', spec['action'], ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']);
  if (spec['action'] === 'CUSTOM' && !isObj(spec['provider'])) is.add('spec.provider', 'CUSTOM action needs a provider');
  arr(spec['rules']).forEach((r, i) => {
    const p = `spec.rules[${i}]`;
    if (!isObj(r)) return is.add(p, 'must be an object');
    arr(r['to']).forEach((t, j) => {
      const op = isObj(t) ? t['operation'] : undefined;
      if (!isObj(op)) return;
      for (const k of ['ports', 'notPorts']) arr(op[k]).forEach((v, n) => checkPort(is, `${p}.to[${j}].operation.${k}[${n}]`, Number(v)));
      for (const k of ['paths', 'notPaths']) {
        arr(op[k]).forEach((v, n) => {
          if (typeof v !== 'string' || (!v.startsWith('/') && !v.startsWith('*'))) is.add(`${p}.to[${j}].operation.${k}[${n}]`, 'paths must start with "/" (or "*" for a suffix match)');
          else if (v.indexOf('*') > 0 && v.indexOf('*') < v.length - 1) is.add(`${p}.to[${j}].operation.${k}[${n}]`, 'only a leading or trailing * is supported');
        });
      }
    });
    arr(r['when']).forEach((w, j) => {
      if (!isObj(w) || typeof w['key'] !== 'string') return is.add(`${p}.when[${j}].key`, 'key is required');
      if (!/^(request\.headers\[.+\]|source\.ip|remote\.ip|source\.namespace|source\.principal|request\.auth\.principal|request\.auth\.audiences|request\.auth\.presenter|request\.auth\.claims\[.+\]|destination\.ip|destination\.port|connection\.sni)$/.test(w['key'])) {
        is.add(`${p}.when[${j}].key`, `unknown condition key ${JSON.stringify(w['key'])}`);
      }
      if (arr(w['values']).length === 0 && arr(w['notValues']).length === 0) is.add(`${p}.when[${j}]`, 'values or notValues is required');
    });
  });
  return is.list;
};

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

function checkHeaderName(is: Issues, path: string, v: unknown): void {
  if (typeof v !== 'string' || v === '') is.add(path, 'a header name is required');
  else if (!HEADER_NAME.test(v)) is.add(path, `invalid header name ${JSON.stringify(v)}`);
}

function checkStringList(is: Issues, path: string, v: unknown, what: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) return is.add(path, `must be a list of ${what}`);
  v.forEach((x, i) => {
    if (typeof x !== 'string' || x === '') is.add(`${path}[${i}]`, `${what} must be non-empty strings`);
  });
}

function checkTargetRef(is: Issues, path: string, t: unknown): void {
  if (!isObj(t)) return is.add(path, 'must be an object with kind and name');
  if (typeof t['kind'] !== 'string' || t['kind'] === '') is.add(`${path}.kind`, 'kind is required');
  if (typeof t['name'] !== 'string' || t['name'] === '') is.add(`${path}.name`, 'name is required');
}

/** An inline jwks must be a JSON Web Key Set whose keys each name a kty. */
function checkInlineJwks(is: Issues, path: string, jwks: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(jwks);
  } catch (e) {
    return is.add(path, `jwks must be a JSON Web Key Set; it is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc) || !Array.isArray(doc['keys'])) return is.add(path, 'jwks must be a JSON Web Key Set: an object with a "keys" array');
  let structural = true;
  doc['keys'].forEach((k, i) => {
    if (!isObj(k) || typeof k['kty'] !== 'string') { structural = false; is.add(`${path}.keys[${i}]`, 'each JSON Web Key needs a "kty"'); }
  });
  // The same check the proxy makes: at least one RSA/EC/OKP public key it can verify with.
  const parsed = structural ? parseJwks(jwks) : undefined;
  if (parsed && !parsed.ok) is.add(path, parsed.error);
}

function checkJwtRule(is: Issues, p: string, r: unknown): void {
  if (!isObj(r)) return is.add(p, 'must be an object');
  if (typeof r['issuer'] !== 'string' || r['issuer'] === '') is.add(`${p}.issuer`, 'issuer is required');
  checkStringList(is, `${p}.audiences`, r['audiences'], 'audiences');
  const hasJwks = r['jwks'] !== undefined && r['jwks'] !== '';
  const hasUri = r['jwksUri'] !== undefined && r['jwksUri'] !== '';
  // Istio allows only one of the two; with neither it would use OpenID discovery, which Weft
  // does not implement (it would mean the control plane fetching from the issuer).
  if (hasJwks && hasUri) is.add(p, 'set only one of jwks and jwksUri');
  if (!hasJwks && !hasUri) is.add(p, 'set jwks or jwksUri: Weft does not implement OpenID discovery from the issuer');
  if (hasUri) {
    const u = r['jwksUri'];
    let url: URL | undefined;
    try { url = typeof u === 'string' ? new URL(u) : undefined; } catch { url = undefined; }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') is.add(`${p}.jwksUri`, 'jwksUri must be an absolute http(s) URL');
  }
  if (hasJwks) {
    if (typeof r['jwks'] !== 'string') is.add(`${p}.jwks`, 'jwks must be a string holding the JSON Web Key Set');
    else checkInlineJwks(is, `${p}.jwks`, r['jwks']);
  }
  if (r['fromHeaders'] !== undefined) {
    if (!Array.isArray(r['fromHeaders'])) is.add(`${p}.fromHeaders`, 'must be a list of {name, prefix}');
    else r['fromHeaders'].forEach((h, j) => checkHeaderName(is, `${p}.fromHeaders[${j}].name`, isObj(h) ? h['name'] : undefined));
  }
  checkStringList(is, `${p}.fromParams`, r['fromParams'], 'query parameter names');
  checkStringList(is, `${p}.fromCookies`, r['fromCookies'], 'cookie names');
  if (r['outputPayloadToHeader'] !== undefined) checkHeaderName(is, `${p}.outputPayloadToHeader`, r['outputPayloadToHeader']);
  arr(r['outputClaimToHeaders']).forEach((c, j) => {
    const cp = `${p}.outputClaimToHeaders[${j}]`;
    checkHeaderName(is, `${cp}.header`, isObj(c) ? c['header'] : undefined);
    if (!isObj(c) || typeof c['claim'] !== 'string' || c['claim'] === '') is.add(`${cp}.claim`, 'claim is required');
  });
  if (r['forwardOriginalToken'] !== undefined && typeof r['forwardOriginalToken'] !== 'boolean') is.add(`${p}.forwardOriginalToken`, 'must be true or false');
  checkDuration(is, `${p}.timeout`, r['timeout']);
}

export const validateRequestAuthentication: Validator = (obj) => {
  const is = new Issues();
  const spec = specOf(is, obj);
  if (!spec) return is.list;
  const targets = ['selector', 'targetRef', 'targetRefs'].filter((k) => spec[k] !== undefined);
  if (targets.length > 1) is.add('spec', `only one of selector, targetRef and targetRefs may be set (got ${targets.join(', ')})`);
  if (spec['targetRef'] !== undefined) checkTargetRef(is, 'spec.targetRef', spec['targetRef']);
  arr(spec['targetRefs']).forEach((t, i) => checkTargetRef(is, `spec.targetRefs[${i}]`, t));
  if (spec['jwtRules'] !== undefined && !Array.isArray(spec['jwtRules'])) is.add('spec.jwtRules', 'must be a list of JWT rules');
  arr(spec['jwtRules']).forEach((r, i) => checkJwtRule(is, `spec.jwtRules[${i}]`, r));
  return is.list;
};

export const ISTIO_VALIDATORS: Readonly<Record<IstioKind, Validator>> = Object.freeze({
  VirtualService: validateVirtualService,
  DestinationRule: validateDestinationRule,
  Gateway: validateGateway,
  ServiceEntry: validateServiceEntry,
  PeerAuthentication: validatePeerAuthentication,
  AuthorizationPolicy: validateAuthorizationPolicy,
  RequestAuthentication: validateRequestAuthentication,
});

/** Fields Istio has but Weft does not implement: warnings, so nothing is silently ignored. */
const UNSUPPORTED: Partial<Record<IstioKind, string[]>> = {
  VirtualService: ['spec.http[].match[].scheme', 'spec.http[].retries.retryRemoteLocalities', 'spec.http[].delegate', 'spec.http[].match[].statPrefix'],
  DestinationRule: ['spec.trafficPolicy.tunnel', 'spec.trafficPolicy.proxyProtocol'],
  AuthorizationPolicy: ['spec.provider'],
};

export function unsupportedFieldWarnings(kind: IstioKind, obj: unknown): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const visit = (value: unknown, pattern: string[], path: string): void => {
    if (pattern.length === 0) {
      if (value !== undefined) out.push({ path, message: 'Weft does not implement this field yet; it is ignored' });
      return;
    }
    const [head, ...rest] = pattern as [string, ...string[]];
    if (head.endsWith('[]')) {
      const key = head.slice(0, -2);
      const list = isObj(value) ? value[key] : undefined;
      arr(list).forEach((v, i) => visit(v, rest, `${path}${path ? '.' : ''}${key}[${i}]`));
    } else if (isObj(value)) {
      visit(value[head], rest, `${path}${path ? '.' : ''}${head}`);
    }
  };
  for (const f of UNSUPPORTED[kind] ?? []) visit(obj, f.split('.'), '');
  return out;
}
