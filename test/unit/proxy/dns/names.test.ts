import { describe, expect, it } from '@jest/globals';
import { checkNameTable, NameIndex, type NameTableShape } from '../../../../src/proxy/dns/names.js';
import { parseResolvConf, parseUpstreams } from '../../../../src/proxy/dns/resolv-conf.js';
import { RR_TYPE } from '../../../../src/proxy/dns/wire.js';

// What the control plane sends a sidecar in namespace "default" (see the nds-name-table golden).
const TABLE: NameTableShape = {
  table: {
    'reviews.default.svc.cluster.local': { ips: ['10.96.0.11', 'fd00::11'], registry: 'Kubernetes', shortname: 'reviews', namespace: 'default', alt_hosts: ['reviews', 'reviews.default', 'reviews.default.svc'] },
    'db.default.svc.cluster.local': { ips: ['10.244.0.51', '10.244.0.52'], registry: 'Kubernetes', shortname: 'db', namespace: 'default', alt_hosts: ['db', 'db.default', 'db.default.svc'] },
    'ratings.other.svc.cluster.local': { ips: ['10.96.1.12'], registry: 'Kubernetes', shortname: 'ratings', namespace: 'other', alt_hosts: ['ratings.other', 'ratings.other.svc'] },
    'legacy.default.svc.cluster.local': { registry: 'Kubernetes', shortname: 'legacy', namespace: 'default', alt_hosts: ['legacy', 'legacy.default', 'legacy.default.svc'] },
    'api.example.com': { ips: ['240.0.0.1'], registry: 'External', namespace: 'default' },
  },
};
const SEARCH = ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
const index = new NameIndex(TABLE, { clusterDomain: 'cluster.local', searchDomains: SEARCH });

describe('DNS name resolution rules', () => {
  it('answers the FQDN and the short forms the control plane listed, case-insensitively, with or without the root dot', () => {
    for (const n of ['reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local.', 'reviews.default.svc', 'reviews.default', 'reviews', 'REVIEWS']) {
      expect(index.decide(n, RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['10.96.0.11'] });
    }
    expect(index.decide('reviews', RR_TYPE.AAAA)).toEqual({ kind: 'answer', addresses: ['fd00::11'] });
  });

  it('headless services answer with every pod IP', () => {
    expect(index.decide('db', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['10.244.0.51', '10.244.0.52'] });
  });

  it('other namespaces need <name>.<ns>: the bare name is not ours, and under cluster.local it is NXDOMAIN after expansion', () => {
    expect(index.decide('ratings.other', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['10.96.1.12'] });
    // A stub resolver sends "ratings" as ratings.default.svc.cluster.local first: not in the table.
    expect(index.decide('ratings.default.svc.cluster.local', RR_TYPE.A)).toEqual({ kind: 'nxdomain' });
  });

  it('answers search-domain expansions of table names as the name itself', () => {
    // glibc with ndots:5 tries "reviews.default" + each search domain first.
    expect(index.decide('reviews.default.default.svc.cluster.local', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['10.96.0.11'] });
    expect(index.decide('api.example.com.default.svc.cluster.local', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['240.0.0.1'] });
    expect(index.decide('api.example.com', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['240.0.0.1'] });
  });

  it('known names without an address of the asked family, or other types, are NODATA', () => {
    expect(index.decide('db', RR_TYPE.AAAA)).toEqual({ kind: 'answer', addresses: [] });
    expect(index.decide('reviews', 16 /* TXT */)).toEqual({ kind: 'answer', addresses: [] });
    expect(index.decide('api.example.com', RR_TYPE.AAAA)).toEqual({ kind: 'answer', addresses: [] });
  });

  it('unknown cluster.local names are NXDOMAIN and never forwarded', () => {
    for (const n of ['missing.default.svc.cluster.local', 'google.com.default.svc.cluster.local', 'x.cluster.local', 'cluster.local']) {
      expect(index.decide(n, RR_TYPE.A)).toEqual({ kind: 'nxdomain' });
    }
  });

  it('forwards everything else: external names, ExternalName services (no IPs), non-IN classes', () => {
    expect(index.decide('example.org', RR_TYPE.A)).toEqual({ kind: 'forward' });
    expect(index.decide('legacy', RR_TYPE.A)).toEqual({ kind: 'forward' });
    expect(index.decide('reviews', RR_TYPE.A, 3 /* CH */)).toEqual({ kind: 'forward' });
    expect(index.decide('reviews.local', RR_TYPE.A)).toEqual({ kind: 'forward' });
  });

  it('an empty table answers nothing but still guards the cluster domain', () => {
    const empty = new NameIndex(undefined, { clusterDomain: 'cluster.local', searchDomains: [] });
    expect(empty.size).toBe(0);
    expect(empty.decide('reviews.default.svc.cluster.local', RR_TYPE.A)).toEqual({ kind: 'nxdomain' });
    expect(empty.decide('reviews', RR_TYPE.A)).toEqual({ kind: 'forward' });
  });

  it('a real hostname wins over another entry\'s alt host', () => {
    const t = new NameIndex({ table: { 'a.b': { ips: ['1.1.1.1'], alt_hosts: ['c.d'] }, 'c.d': { ips: ['2.2.2.2'] } } }, { clusterDomain: 'cluster.local', searchDomains: [] });
    expect(t.decide('c.d', RR_TYPE.A)).toEqual({ kind: 'answer', addresses: ['2.2.2.2'] });
  });

  it('rejects a bad name table (so the xDS client NACKs it)', () => {
    expect(() => checkNameTable({ table: { 'a.b': { ips: ['not-an-ip'] } } })).toThrow(/not an IP/);
    expect(() => checkNameTable({ table: { '': { ips: [] } } })).toThrow(/empty or too long/);
    expect(() => checkNameTable({ table: { 'a.b': { alt_hosts: [''] } } })).toThrow(/empty alt host/);
    expect(checkNameTable(TABLE)).toBe(TABLE);
  });
});

describe('resolv.conf and upstreams', () => {
  it('reads nameservers and the last search line, skipping junk', () => {
    const r = parseResolvConf('# pod\nnameserver 10.96.0.10\nnameserver bogus\nnameserver fd00::a ; v6\nsearch a.svc.cluster.local svc.cluster.local\nsearch default.svc.cluster.local svc.cluster.local cluster.local.\noptions ndots:5\n');
    expect(r.nameservers).toEqual([{ address: '10.96.0.10', port: 53 }, { address: 'fd00::a', port: 53 }]);
    expect(r.searches).toEqual(SEARCH);
    expect(parseResolvConf('')).toEqual({ nameservers: [], searches: [] });
  });

  it('parses explicit upstreams and rejects bad ones', () => {
    expect(parseUpstreams('127.0.0.9:5353, 10.0.0.1,[::1]:53')).toEqual([{ address: '127.0.0.9', port: 5353 }, { address: '10.0.0.1', port: 53 }, { address: '::1', port: 53 }]);
    expect(() => parseUpstreams('dns.google:53')).toThrow(/ip, ip:port/);
    expect(() => parseUpstreams('127.0.0.1:99999')).toThrow(/ip, ip:port/);
  });
});
