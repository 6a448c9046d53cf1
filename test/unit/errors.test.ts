import { describe, expect, it } from '@jest/globals';
import { WeftError, isWeftError, errorMessage } from '../../src/errors/errors.js';

describe('WeftError', () => {
  it('carries a stable code and frozen details', () => {
    const e = new WeftError('WEFT_E_INVALID_INPUT', 'bad field', { field: 'spec.x' });
    expect(isWeftError(e, 'WEFT_E_INVALID_INPUT')).toBe(true);
    expect(isWeftError(e, 'WEFT_E_INTERNAL')).toBe(false);
    expect(Object.isFrozen(e.details)).toBe(true);
    expect(errorMessage(e)).toBe('bad field');
    expect(errorMessage('plain')).toBe('plain');
  });
});
