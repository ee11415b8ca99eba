import { describe, expect, it } from 'vitest';
import { derivePairPsk, PskDerivationError } from '../../components/credentials/psk-derivation.js';

const master = 'x'.repeat(48);

describe('derivePairPsk', () => {
  it('is symmetric in the pair and 256 bits long', () => {
    const k = derivePairPsk(master, 'mesh', 'cp1', 'cp2');
    expect(k).toBe(derivePairPsk(master, 'mesh', 'cp2', 'cp1'));
    expect(k).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('differs per pair, per mesh and per master', () => {
    const k = derivePairPsk(master, 'mesh', 'cp1', 'cp2');
    expect(derivePairPsk(master, 'mesh', 'cp1', 'cp3')).not.toBe(k);
    expect(derivePairPsk(master, 'other', 'cp1', 'cp2')).not.toBe(k);
    expect(derivePairPsk('y'.repeat(48), 'mesh', 'cp1', 'cp2')).not.toBe(k);
  });

  it('does not let a name boundary shift produce the same key', () => {
    expect(derivePairPsk(master, 'mesh', 'a', 'bc')).not.toBe(derivePairPsk(master, 'mesh', 'ab', 'c'));
  });

  it('matches a fixed vector (the CLI and the components must agree forever)', () => {
    // HKDF-SHA256(ikm=48×"x", salt="ipsec-mesh/mesh", info="pair-psk/v1/cp1~cp2", L=32)
    expect(derivePairPsk(master, 'mesh', 'cp2', 'cp1')).toBe(
      '0x' + '34dd454a5200a9b8dceec97f5beac11c893f39b065689465cbbe5d89f292a51a',
    );
  });

  it('refuses a short master and a self pair', () => {
    expect(() => derivePairPsk('short', 'mesh', 'a', 'b')).toThrow(PskDerivationError);
    expect(() => derivePairPsk(master, 'mesh', 'a', 'a')).toThrow(/itself/);
  });
});
