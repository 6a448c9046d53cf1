// SPIFFE ids of the bench's two-hop mTLS identities. Own module, free of x509, so the proxy
// child role (whose RSS the bench reports) can name them without loading the cert tooling.
export const SERVER_ID = 'spiffe://cluster.local/ns/bench/sa/server';
export const CLIENT_ID = 'spiffe://cluster.local/ns/bench/sa/client';
/** DNS SAN on the server leaf as well: nginx's anchor verifies upstream names by DNS, not URI SANs. */
export const SERVER_DNS = 'server.bench.weft.local';
