// CA benchmark: certificates per second through the issuer's whole path (CSR parse and
// signature check + cached TokenReview authentication + leaf signing), next to anchors
// measured in the same run: Node's raw P-256 crypto.sign, WebCrypto's P-256 sign, and a
// node-forge RSA-2048 leaf (why the CA does not use node-forge: it has no ECDSA at all and
// pays for RSA in JavaScript). Also the time to re-issue 10,000 workloads' certificates.
// Everything is sequential on one event loop, bounded in count and time; no network.
//   node dist/bench/ca.js [--quick]
import { createPrivateKey, generateKeyPairSync, sign as nodeSign, webcrypto } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import type { V1TokenReview } from '@kubernetes/client-node';
import { createSelfSignedCa } from '../src/ca/authority.js';
import { TokenReviewAuthenticator } from '../src/ca/authenticator.js';
import { Issuer } from '../src/ca/issuer.js';
import { createCsrPem, generateWorkloadKey } from '../src/identity/csr.js';
import { formatTable, writeJson, type BenchRow } from './lib/report.js';

interface Rate {
  count: number;
  elapsedMs: number;
  perSec: number;
  msEach: number;
}

/** Runs `fn` back to back until `maxCount` or `maxMs`, after `warmup` untimed calls. */
async function measure(fn: (i: number) => unknown, opts: { maxCount: number; maxMs: number; warmup: number }): Promise<Rate> {
  for (let i = 0; i < opts.warmup; i++) await fn(i);
  const start = performance.now();
  let count = 0;
  while (count < opts.maxCount && performance.now() - start < opts.maxMs) {
    await fn(count);
    count++;
  }
  const elapsedMs = performance.now() - start;
  return { count, elapsedMs, perSec: (count / elapsedMs) * 1000, msEach: elapsedMs / count };
}

/** The API server's TokenReview stood in by a table: after the first call every lookup is a cache hit. */
class TableTokenReview {
  reviews = 0;
  async createTokenReview(p: { body: V1TokenReview }): Promise<V1TokenReview> {
    this.reviews++;
    const token = p.body.spec.token ?? '';
    return { ...p.body, status: { authenticated: true, audiences: ['weft-ca'], user: { username: `system:serviceaccount:bench:${token}` } } };
  }
}

function forgeRsaLeafSigner(): () => void {
  // Key generation in node-forge takes seconds; make the keys with Node and hand them over.
  const caKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const leafKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const caKey = forge.pki.privateKeyFromPem(caKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const leafPub = forge.pki.publicKeyFromPem(leafKeys.publicKey.export({ format: 'pem', type: 'spki' }).toString());
  let serial = 1;
  return () => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = leafPub;
    cert.serialNumber = (serial++).toString(16).padStart(2, '0');
    cert.validity.notBefore = new Date('2030-01-01T00:00:00Z');
    cert.validity.notAfter = new Date('2030-01-02T00:00:00Z');
    cert.setIssuer([{ name: 'organizationName', value: 'cluster.local' }]);
    cert.setSubject([]);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: 'spiffe://cluster.local/ns/bench/sa/w' }], critical: true },
    ]);
    cert.sign(caKey, forge.md.sha256.create());
    forge.pki.certificateToPem(cert);
  };
}

export async function runCaBench(quick: boolean): Promise<{ rows: BenchRow[]; reissue: { workloads: number; seconds: number } }> {
  const now = new Date();
  const ca = await createSelfSignedCa({ now, trustDomain: 'cluster.local' });
  const issuer = new Issuer(ca);
  const review = new TableTokenReview();
  const authenticator = new TokenReviewAuthenticator({ authn: review as never }, { cacheTtlMs: 3600_000 }); // the stand-in has only the method used

  // Workloads make their keys and CSRs; that is the agent's cost, not the CA's, so it is not timed.
  const poolSize = quick ? 200 : 500;
  const csrs: string[] = [];
  for (let i = 0; i < poolSize; i++) csrs.push(await createCsrPem(await generateWorkloadKey()));
  const tokens = Array.from({ length: 50 }, (_, i) => `sa-${i}`);

  const oneCert = async (i: number): Promise<void> => {
    const identity = await authenticator.authenticate(tokens[i % tokens.length]!);
    await issuer.sign({ csr: csrs[i % csrs.length]!, identity }, now);
  };
  const budget = { maxMs: quick ? 2000 : 6000, warmup: 100 };
  const caRate = await measure(oneCert, { ...budget, maxCount: quick ? 4000 : 20000 });

  // Anchors, same run, same process.
  const rawKey = createPrivateKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const tbs = Buffer.alloc(420, 7); // about a leaf's to-be-signed size
  const rawRate = await measure(() => nodeSign('sha256', tbs, rawKey), { ...budget, maxCount: quick ? 10000 : 50000 });
  const wcKey = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])).privateKey;
  const wcRate = await measure(() => webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, wcKey, tbs), { ...budget, maxCount: quick ? 10000 : 50000 });
  const forgeSign = forgeRsaLeafSigner();
  const forgeRate = await measure(() => forgeSign(), { maxMs: quick ? 2000 : 5000, warmup: 3, maxCount: quick ? 60 : 200 });

  // Re-issuing 10,000 workloads (a root rotation's stage 2, or a mass restart): sequential,
  // bounded by time; if the bound hits first the figure is extrapolated and says so.
  const workloads = 10_000;
  const re = await measure(oneCert, { maxCount: workloads, maxMs: quick ? 3000 : 30_000, warmup: 0 });
  const reissueSeconds = (re.elapsedMs / 1000) * (workloads / re.count);

  const rows: BenchRow[] = [
    {
      scenario: 'CA: CSR verify + cached TokenReview + sign',
      measure: 'certs/s, one event loop',
      unit: '1/s',
      weft: caRate.perSec,
      anchor: rawRate.perSec,
      anchorName: 'node crypto.sign P-256',
      goal: '>= 2,000 certs/s absolute',
      better: 'higher',
    },
    {
      scenario: 'CA: same path',
      measure: 'certs/s vs WebCrypto sign',
      unit: '1/s',
      weft: caRate.perSec,
      anchor: wcRate.perSec,
      anchorName: 'WebCrypto P-256 sign',
      better: 'higher',
    },
    {
      scenario: 'leaf signing, RSA-2048 in node-forge',
      measure: 'certs/s',
      unit: '1/s',
      weft: caRate.perSec,
      anchor: forgeRate.perSec,
      anchorName: 'node-forge RSA-2048 leaf',
      goal: 'why not node-forge',
      better: 'higher',
    },
    {
      scenario: `re-issue ${workloads.toLocaleString('en')} workloads${re.count < workloads ? ` (extrapolated from ${re.count})` : ''}`,
      measure: 'total time',
      unit: 's',
      weft: reissueSeconds,
      anchor: (workloads / rawRate.perSec),
      anchorName: 's of raw P-256 signs',
      better: 'lower',
    },
  ];
  if (review.reviews !== tokens.length) throw new Error(`expected ${tokens.length} TokenReviews (one per identity), saw ${review.reviews}`);
  return { rows, reissue: { workloads, seconds: reissueSeconds } };
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const quick = process.argv.includes('--quick');
  runCaBench(quick).then(({ rows, reissue }) => {
    console.log(formatTable(rows));
    const [ca, , forgeRow] = rows;
    console.log(
      `absolute goal: ${ca!.weft.toFixed(0)} certs/s >= 2,000: ${ca!.weft >= 2000 ? 'pass' : 'fail'}; ` +
        `${(1000 / ca!.weft).toFixed(3)} ms per cert; node-forge RSA-2048 leaf ${(1000 / forgeRow!.anchor).toFixed(1)} ms; ` +
        `${reissue.workloads} workloads re-issued in ${reissue.seconds.toFixed(1)} s`,
    );
    writeJson('bench/results/ca.json', { when: new Date().toISOString(), quick, rows, reissue });
  }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
