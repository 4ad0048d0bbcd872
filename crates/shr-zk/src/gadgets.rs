//! Small R1CS building blocks shared by the circuits: witnesses, range checks, packed public
//! inputs, Merkle paths.

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField};
use ark_r1cs_std::{
    GR1CSVar, alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::FieldVar, fields::fp::FpVar,
    select::CondSelectGadget,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

use crate::poseidon::hash_var;

type R<T> = Result<T, SynthesisError>;

/// A constraint system with the helpers the circuits use.
pub(crate) struct Cs(pub(crate) ConstraintSystemRef<Fr>);

impl Cs {
    /// A private witness.
    pub(crate) fn witness(&self, v: Fr) -> R<FpVar<Fr>> {
        FpVar::new_witness(self.0.clone(), || Ok(v))
    }

    /// A public input.
    pub(crate) fn input(&self, v: Fr) -> R<FpVar<Fr>> {
        FpVar::new_input(self.0.clone(), || Ok(v))
    }

    /// Enforces `0 <= v < 2^n` (n booleans and one linear constraint) and returns the bits,
    /// least significant first.
    pub(crate) fn bits(&self, v: &FpVar<Fr>, n: usize) -> R<Vec<Boolean<Fr>>> {
        let value = v.value().unwrap_or_default().into_bigint();
        let mut bits = Vec::with_capacity(n);
        let mut sum = FpVar::zero();
        let mut coeff = Fr::ONE;
        for i in 0..n {
            let b = Boolean::new_witness(self.0.clone(), || Ok(value.get_bit(i)))?;
            sum += FpVar::from(b.clone()) * coeff;
            coeff.double_in_place();
            bits.push(b);
        }
        sum.enforce_equal(v)?;
        Ok(bits)
    }

    /// Enforces `0 <= v < 2^n`.
    pub(crate) fn range(&self, v: &FpVar<Fr>, n: usize) -> R<()> {
        self.bits(v, n).map(|_| ())
    }

    /// Splits the public input `packed` into witnessed parts of the given bit widths (least
    /// significant first), each range-checked, so the split is unique.
    pub(crate) fn unpack(&self, packed: &FpVar<Fr>, widths: &[usize]) -> R<Vec<FpVar<Fr>>> {
        let value = packed.value().unwrap_or_default().into_bigint();
        let mut parts = Vec::with_capacity(widths.len());
        let mut sum = FpVar::zero();
        let (mut shift, mut coeff) = (0usize, Fr::ONE);
        for &w in widths {
            let mut part = Fr::from(0u64);
            let mut c = Fr::ONE;
            for i in 0..w {
                if value.get_bit(shift + i) {
                    part += c;
                }
                c.double_in_place();
            }
            let v = self.witness(part)?;
            self.range(&v, w)?;
            sum += &v * coeff;
            coeff *= c;
            shift += w;
            parts.push(v);
        }
        sum.enforce_equal(packed)?;
        Ok(parts)
    }

    /// The root of a Merkle path: `leaf` at the position whose bits (least significant first,
    /// one per level) are `index`, with `siblings` from the leaf level up. Poseidon(2) nodes.
    pub(crate) fn root(
        &self,
        leaf: &FpVar<Fr>,
        index: &[Boolean<Fr>],
        siblings: &[FpVar<Fr>],
    ) -> R<FpVar<Fr>> {
        let mut cur = leaf.clone();
        for (bit, sib) in index.iter().zip(siblings) {
            let left = FpVar::conditionally_select(bit, sib, &cur)?;
            let right = FpVar::conditionally_select(bit, &cur, sib)?;
            cur = hash_var(&self.0, &[left, right])?;
        }
        Ok(cur)
    }

    /// Enforces `v != 0` (one constraint: `v * inv = 1`).
    pub(crate) fn nonzero(&self, v: &FpVar<Fr>) -> R<()> {
        let inv = self.witness(v.value().unwrap_or_default().inverse().unwrap_or_default())?;
        v.mul_equals(&inv, &FpVar::one())
    }
}

/// `2^n` as a field element.
pub(crate) fn pow2(n: usize) -> Fr {
    Fr::from(2u64).pow([n as u64])
}
