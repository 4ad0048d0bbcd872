//! Groth16 keys, proving and verifying.
//!
//! **The setup is a local single-party setup from a fixed public seed** ([`DEV_SETUP_SEED`]):
//! anyone can recompute its toxic waste and forge proofs, so it is for development chains only
//! (the contract's verifier says `DEV_SETUP = true`, and `CREDarkPool` refuses such a verifier
//! outside chain id 31337). A production deployment runs a phase-2 ceremony on top of a public
//! powers-of-tau and generates the verifier from its key (docs/SECURITY.md). The seed makes the
//! keys reproducible, which is what lets a test prove the committed Solidity verifier is the one
//! this code generates.
//!
//! Keys are made once per process (a fill key takes seconds) and kept.

use std::sync::OnceLock;

use alloy_primitives::U256;
use ark_bn254::{Bn254, Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::UniformRand;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, R1CS_PREDICATE_LABEL,
    SynthesisError, SynthesisMode,
};
use ark_relations::utils::matrix::Matrix;
use ark_snark::SNARK;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::{Error, FillCircuit, Result, UpdateCircuit};

/// The dev setup's public seed (see the module docs: never for a real chain).
pub const DEV_SETUP_SEED: [u8; 32] = *b"shr/zk/dev-setup/INSECURE/v1\0\0\0\0";

/// The two circuits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitKind {
    /// A settlement ([`FillCircuit`]).
    Fill,
    /// A deposit, withdrawal or exit ([`UpdateCircuit`]).
    Update,
}

impl CircuitKind {
    /// The Solidity contract's name.
    pub fn contract(self) -> &'static str {
        match self {
            Self::Fill => "FillVerifier",
            Self::Update => "UpdateVerifier",
        }
    }

    /// Number of public inputs.
    pub fn inputs(self) -> usize {
        match self {
            Self::Fill => 5,
            Self::Update => 4,
        }
    }

    fn seed(self) -> [u8; 32] {
        let mut s = DEV_SETUP_SEED;
        s[31] = self as u8 + 1;
        s
    }
}

/// A circuit's keys, with the constraint matrices the prover reuses.
pub struct Keys {
    /// The proving key.
    pub pk: ProvingKey<Bn254>,
    /// The verifying key, prepared.
    pub pvk: PreparedVerifyingKey<Bn254>,
    /// The R1CS matrices `[A, B, C]` (row per constraint, `(coefficient, variable)` pairs over
    /// the full assignment `1 ‖ instance ‖ witness`), synthesized once at setup.
    matrices: Vec<Matrix<Fr>>,
    /// Instance variables, counting the constant one.
    num_instance: usize,
    num_witness: usize,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("public_inputs", &(self.pk.vk.gamma_abc_g1.len() - 1)).finish()
    }
}

impl Keys {
    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pk.vk
    }
}

/// Runs `f` with no tracing subscriber on this thread (see the module docs).
pub(crate) fn quiet<T>(f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), f)
}

/// The dev-setup keys of `kind`, made on first use.
///
/// # Panics
/// If the setup of a circuit defined here fails (a bug, not an input).
pub fn keys(kind: CircuitKind) -> &'static Keys {
    static FILL: OnceLock<Keys> = OnceLock::new();
    static UPDATE: OnceLock<Keys> = OnceLock::new();
    let cell = match kind {
        CircuitKind::Fill => &FILL,
        CircuitKind::Update => &UPDATE,
    };
    cell.get_or_init(|| {
        quiet(|| {
            let mut rng = ChaCha20Rng::from_seed(kind.seed());
            let (pk, vk) = match kind {
                CircuitKind::Fill => {
                    Groth16::<Bn254>::circuit_specific_setup(FillCircuit::default(), &mut rng)
                }
                CircuitKind::Update => {
                    Groth16::<Bn254>::circuit_specific_setup(UpdateCircuit::default(), &mut rng)
                }
            }
            .expect("setup of a fixed circuit");
            let pvk = Groth16::<Bn254>::process_vk(&vk).expect("process a fresh key");
            let cs = ConstraintSystem::<Fr>::new_ref();
            cs.set_optimization_goal(OptimizationGoal::Constraints);
            cs.set_mode(SynthesisMode::Setup);
            match kind {
                CircuitKind::Fill => FillCircuit::default().generate_constraints(cs.clone()),
                CircuitKind::Update => UpdateCircuit::default().generate_constraints(cs.clone()),
            }
            .expect("synthesis of a fixed circuit");
            cs.finalize();
            let mut matrices = cs.to_matrices().expect("matrices of a finalized system");
            let matrices = matrices.remove(R1CS_PREDICATE_LABEL).expect("an R1CS system");
            Keys {
                pk,
                pvk,
                matrices,
                num_instance: cs.num_instance_variables(),
                num_witness: cs.num_witness_variables(),
            }
        })
    })
}

/// A proof as `CREDarkPool` takes it: `[A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y]`
/// (EIP-197's order for G2: imaginary part first).
pub type ProofWords = [U256; 8];

/// Proves `circuit` after checking that its witness satisfies it (an unsatisfied witness gives
/// an error naming nothing private, not an invalid proof).
///
/// The circuit is synthesized once, for its assignment only; the constraint matrices come from
/// the setup ([`keys`]), and satisfaction is checked row by row against them (`A·z ∘ B·z = C·z`)
/// before the prover (ark-groth16's `create_proof_with_reduction_and_matrices`) runs.
///
/// # Errors
/// [`Error::Unsatisfied`]; [`Error::Synthesis`].
pub fn prove<C: ConstraintSynthesizer<Fr>>(kind: CircuitKind, circuit: C) -> Result<ProofWords> {
    let keys = keys(kind);
    quiet(|| prove_quiet(kind, keys, circuit))
}

fn prove_quiet<C: ConstraintSynthesizer<Fr>>(
    kind: CircuitKind,
    keys: &Keys,
    circuit: C,
) -> Result<ProofWords> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove { construct_matrices: false, generate_lc_assignments: false });
    circuit.generate_constraints(cs.clone()).map_err(Error::Synthesis)?;
    let (instance, witness) = (
        cs.instance_assignment().map_err(Error::Synthesis)?,
        cs.witness_assignment().map_err(Error::Synthesis)?,
    );
    if instance.len() != keys.num_instance || witness.len() != keys.num_witness {
        return Err(Error::Synthesis(SynthesisError::Unsatisfiable));
    }
    let z = [instance, witness].concat();
    if !satisfied(&keys.matrices, &z) {
        return Err(Error::Unsatisfied(kind.contract()));
    }
    let mut rng = rand::rngs::OsRng;
    let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
    let proof = Groth16::<Bn254>::create_proof_with_reduction_and_matrices(
        &keys.pk,
        r,
        s,
        &keys.matrices,
        keys.num_instance,
        keys.matrices[0].len(),
        &z,
    )
    .map_err(Error::Synthesis)?;
    Ok(words(&proof))
}

/// Whether `A·z ∘ B·z = C·z` holds on every row.
fn satisfied(m: &[Matrix<Fr>], z: &[Fr]) -> bool {
    let dot = |row: &[(Fr, usize)]| row.iter().map(|(c, i)| *c * z[*i]).sum::<Fr>();
    let [a, b, c] = m else { return false };
    a.len() == b.len()
        && b.len() == c.len()
        && a.iter().zip(b).zip(c).all(|((a, b), c)| dot(a) * dot(b) == dot(c))
}

/// Verifies a proof natively (the same check the Solidity verifier makes).
///
/// # Errors
/// [`Error::Synthesis`] when the proof's points are not on the curve.
pub fn verify(kind: CircuitKind, publics: &[Fr], proof: &ProofWords) -> Result<bool> {
    let Some(p) = from_words(proof) else { return Ok(false) };
    if publics.len() != kind.inputs() {
        return Ok(false);
    }
    Groth16::<Bn254>::verify_with_processed_vk(&keys(kind).pvk, publics, &p)
        .map_err(Error::Synthesis)
}

/// Number of constraints of `kind`'s circuit.
///
/// # Errors
/// [`Error::Synthesis`].
pub fn constraints(kind: CircuitKind) -> Result<usize> {
    quiet(|| constraints_quiet(kind))
}

fn constraints_quiet(kind: CircuitKind) -> Result<usize> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    match kind {
        CircuitKind::Fill => FillCircuit::default().generate_constraints(cs.clone()),
        CircuitKind::Update => UpdateCircuit::default().generate_constraints(cs.clone()),
    }
    .map_err(Error::Synthesis)?;
    cs.finalize();
    Ok(cs.num_constraints())
}

fn fq(f: Fq) -> U256 {
    U256::from_be_slice(&f.into_bigint().to_bytes_be())
}

/// A G1 point as `(x, y)` (zero for the point at infinity).
pub(crate) fn g1_words(p: &G1Affine) -> [U256; 2] {
    p.xy().map(|(x, y)| [fq(x), fq(y)]).unwrap_or([U256::ZERO; 2])
}

/// A G2 point as `(x.c1, x.c0, y.c1, y.c0)` (EIP-197).
pub(crate) fn g2_words(p: &G2Affine) -> [U256; 4] {
    p.xy().map(|(x, y)| [fq(x.c1), fq(x.c0), fq(y.c1), fq(y.c0)]).unwrap_or([U256::ZERO; 4])
}

fn words(p: &Proof<Bn254>) -> ProofWords {
    let (a, b, c) = (g1_words(&p.a), g2_words(&p.b), g1_words(&p.c));
    [a[0], a[1], b[0], b[1], b[2], b[3], c[0], c[1]]
}

fn from_words(w: &ProofWords) -> Option<Proof<Bn254>> {
    let f = |u: U256| -> Option<Fq> {
        let v = Fq::from_be_bytes_mod_order(&u.to_be_bytes::<32>());
        (fq(v) == u).then_some(v)
    };
    let g1 = |x: U256, y: U256| -> Option<G1Affine> {
        let p = G1Affine::new_unchecked(f(x)?, f(y)?);
        (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve()).then_some(p)
    };
    let x = ark_bn254::Fq2::new(f(w[3])?, f(w[2])?);
    let y = ark_bn254::Fq2::new(f(w[5])?, f(w[4])?);
    let b = G2Affine::new_unchecked(x, y);
    if !(b.is_on_curve() && b.is_in_correct_subgroup_assuming_on_curve()) {
        return None;
    }
    Some(Proof { a: g1(w[0], w[1])?, b, c: g1(w[6], w[7])? })
}
