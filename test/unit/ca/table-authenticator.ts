// A real Authenticator for tests: a fixed token -> identity table, standing in for the
// API server's TokenReview (an external system).
import { WeftError } from '../../../src/errors/errors.js';
import type { Authenticator } from '../../../src/ca/authenticator.js';
import type { WorkloadIdentity } from '../../../src/ca/issuer.js';

export class TableAuthenticator implements Authenticator {
  constructor(private readonly table: Record<string, WorkloadIdentity>) {}
  async authenticate(token: string): Promise<WorkloadIdentity> {
    const id = this.table[token];
    if (!id) throw new WeftError('WEFT_E_UNAUTHENTICATED', 'unknown token');
    return id;
  }
}

