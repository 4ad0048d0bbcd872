//! Poseidon over bn254 with circom's parameters (x^5, `light-poseidon`'s constants), natively and
//! as an R1CS gadget that matches it bit for bit.
//!
//! The gadget is arkworks' `PoseidonSpongeVar` (`ark-crypto-primitives`) run as circom's
//! fixed-length hash: capacity 0, rate `n + 1`, absorb `[0, x_1 .. x_n]`, squeeze one element.
//! That is exactly circomlib's `Poseidon(n)`: the state `[0, x_1 .. x_n]`, the permutation
//! (round constants, S-box on every element in full rounds and on `state[0]` in partial ones, MDS),
//! output `state[0]`. A unit test checks both against `light-poseidon` and circomlibjs' vector.
//!
//! The native hash runs the same permutation with the optimised partial rounds
//! ([`optimized`]): the constants are derived once per width from the gadget's.

mod optimized;

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::sponge::{
    CryptographicSponge,
    constraints::CryptographicSpongeVar,
    poseidon::{PoseidonConfig, PoseidonSponge, constraints::PoseidonSpongeVar},
};
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use light_poseidon::parameters::bn254_x5::get_poseidon_parameters;

use crate::{Error, Result};

/// Largest number of inputs a hash here takes (circom supports up to 12; we use 2, 4 and 5).
const MAX_INPUTS: usize = 5;

type Width = Option<(PoseidonConfig<Fr>, optimized::Optimized)>;

fn configs() -> &'static [Width; MAX_INPUTS + 1] {
    static CONFIGS: OnceLock<[Width; MAX_INPUTS + 1]> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        std::array::from_fn(|n| {
            if n == 0 {
                return None;
            }
            let width = n + 1;
            let p = get_poseidon_parameters::<Fr>(width as u8).ok()?;
            let ark: Vec<Vec<Fr>> = p.ark.chunks(width).map(<[Fr]>::to_vec).collect();
            let fast = optimized::Optimized::new(p.full_rounds, p.partial_rounds, &ark, &p.mds)?;
            let cfg =
                PoseidonConfig::new(p.full_rounds, p.partial_rounds, p.alpha, p.mds, ark, width, 0);
            Some((cfg, fast))
        })
    })
}

fn width(n: usize) -> Result<&'static (PoseidonConfig<Fr>, optimized::Optimized)> {
    configs().get(n).and_then(Option::as_ref).ok_or(Error::PoseidonWidth(n))
}

/// circomlib's `Poseidon(n)` of `inputs` (1 to 5 field elements).
///
/// # Errors
/// [`Error::PoseidonWidth`] for 0 or more than 5 inputs.
pub fn hash(inputs: &[Fr]) -> Result<Fr> {
    let (_, fast) = width(inputs.len())?;
    let mut state = [Fr::from(0u64); optimized::MAX_T];
    state[1..=inputs.len()].copy_from_slice(inputs);
    fast.permute(&mut state[..=inputs.len()]);
    Ok(state[0])
}

/// The same hash through arkworks' `PoseidonSponge` (every round dense): the reference the
/// optimised [`hash`] is tested and benchmarked against.
///
/// # Errors
/// [`Error::PoseidonWidth`] for 0 or more than 5 inputs.
pub fn hash_sponge(inputs: &[Fr]) -> Result<Fr> {
    let mut sponge = PoseidonSponge::new(&width(inputs.len())?.0);
    let mut state = Vec::with_capacity(inputs.len() + 1);
    state.push(Fr::from(0u64));
    state.extend_from_slice(inputs);
    sponge.absorb(&state);
    Ok(sponge.squeeze_field_elements::<Fr>(1)[0])
}

/// The same hash inside a circuit (about `3 * (8 * (n + 1) + partial_rounds)` constraints:
/// 243 for two inputs, 300 for four, 324 for five).
///
/// # Errors
/// Synthesis errors; [`SynthesisError::Unsatisfiable`] for an unsupported width.
pub(crate) fn hash_var(
    cs: &ConstraintSystemRef<Fr>,
    inputs: &[FpVar<Fr>],
) -> Result<FpVar<Fr>, SynthesisError> {
    let (cfg, _) = width(inputs.len()).map_err(|_| SynthesisError::Unsatisfiable)?;
    let mut sponge = PoseidonSpongeVar::new(cs.clone(), cfg);
    let mut state = Vec::with_capacity(inputs.len() + 1);
    state.push(FpVar::Constant(Fr::from(0u64)));
    state.extend_from_slice(inputs);
    sponge.absorb(&state)?;
    Ok(sponge.squeeze_field_elements(1)?.remove(0))
}

#[cfg(test)]
mod tests {
    use ark_ff::{BigInteger, PrimeField};
    use ark_r1cs_std::{GR1CSVar, alloc::AllocVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use light_poseidon::{Poseidon, PoseidonHasher};

    use super::*;

    #[test]
    fn matches_light_poseidon_and_the_circom_vector() {
        let h = hash(&[Fr::from(1u64), Fr::from(2u64)]).unwrap();
        let hex = hex_of(h);
        // circomlibjs poseidon([1, 2])
        assert_eq!(hex, "115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a");
        for n in 1..=MAX_INPUTS {
            let xs: Vec<Fr> = (0..n).map(|i| Fr::from(1_000_003u64 * (i as u64 + 7))).collect();
            let mut lp = Poseidon::<Fr>::new_circom(n).unwrap();
            assert_eq!(hash(&xs).unwrap(), lp.hash(&xs).unwrap(), "width {n}");
            assert_eq!(hash_sponge(&xs).unwrap(), lp.hash(&xs).unwrap(), "width {n}");
        }
        assert!(matches!(hash(&[]), Err(Error::PoseidonWidth(0))));
    }

    #[test]
    fn gadget_matches_native_bit_for_bit() {
        for n in [2usize, 4, 5] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let xs: Vec<Fr> = (0..n).map(|i| Fr::from(u64::MAX - i as u64)).collect();
            let vars: Vec<FpVar<Fr>> =
                xs.iter().map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap()).collect();
            let before = cs.num_constraints();
            let h = hash_var(&cs, &vars).unwrap();
            assert_eq!(h.value().unwrap(), hash(&xs).unwrap(), "width {n}");
            assert!(cs.is_satisfied().unwrap());
            assert!(cs.num_constraints() - before <= 330, "{} constraints", cs.num_constraints());
        }
    }

    proptest::proptest! {
        /// The optimised permutation equals light-poseidon's dense one on any inputs.
        #[test]
        fn optimised_equals_dense(xs in proptest::collection::vec(proptest::array::uniform32(proptest::num::u8::ANY), 1..=MAX_INPUTS)) {
            let xs: Vec<Fr> = xs.iter().map(|b| Fr::from_le_bytes_mod_order(b)).collect();
            let mut lp = Poseidon::<Fr>::new_circom(xs.len()).unwrap();
            proptest::prop_assert_eq!(hash(&xs).unwrap(), lp.hash(&xs).unwrap());
        }
    }

    fn hex_of(f: Fr) -> String {
        f.into_bigint().to_bytes_be().iter().map(|b| format!("{b:02x}")).collect()
    }
}
