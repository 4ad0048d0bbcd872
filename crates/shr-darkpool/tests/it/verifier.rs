//! The Solidity verifiers (generated from the Rust setup) and the Rust verifier agree on valid
//! proofs and on random invalid ones, on both chain backends (the embedded revm chain and anvil).

use alloy::primitives::{Address, U256};
use rand::Rng;
use shr_chain::{Chain, EmbeddedChain, RpcChain, RpcConfig};
use shr_contracts::{
    anvil::Anvil,
    bindings::{FillVerifier, UpdateVerifier},
    deploy::deploy_code,
    view,
};
use shr_zk::{
    BalanceChange, BalanceTree, ChangeKind, CircuitKind, FillWitness, Leaf, MakerFill,
    OrderOpening, ProofWords, UpdateWitness, prove, random_blinding, verify,
};

use crate::contract::R;

type Fr = ark_bn254::Fr;

fn word(f: Fr) -> U256 {
    U256::from_be_bytes(shr_zk::fe_bytes(f).0)
}

/// A valid update proof (a deposit into slot 20) and a valid fill proof, with their inputs.
fn proofs() -> R<Vec<(CircuitKind, Vec<Fr>, ProofWords)>> {
    let mut tree = BalanceTree::default();
    let party = Address::repeat_byte(0x42);
    let change = BalanceChange {
        party,
        slot: 20,
        token: 1,
        amount: 10u128.pow(21),
        kind: ChangeKind::Deposit,
    };
    let w = UpdateWitness {
        change,
        old: *tree.leaf(20)?,
        new_blinding: random_blinding(),
        siblings: tree.path(20)?,
    };
    let (circuit, old, new) = w.circuit()?;
    let update = (
        CircuitKind::Update,
        change.public_inputs(old, new)?,
        prove(CircuitKind::Update, circuit)?,
    );
    tree.set(20, w.new_leaf()?)?;
    for s in 0..3 {
        let maker = Address::left_padding_from(&[s as u8 + 1]);
        tree.set(
            s,
            Leaf { party: maker, collateral: 50_000, payment: 0, blinding: random_blinding() },
        )?;
    }
    let twap = 2 * 10u128.pow(29);
    let fill = FillWitness {
        tree,
        requester: (party, 20),
        twap_wad: twap,
        premium_bps: 30,
        order: OrderOpening {
            size: 60_000,
            min_price_wad: twap,
            max_price_wad: twap * 2,
            min_fill: 1,
            salt: random_blinding(),
        },
        fills: vec![
            MakerFill { slot: 0, amount: 50_000, spread_bps: 5 },
            MakerFill { slot: 1, amount: 10_000, spread_bps: 30 },
        ],
    }
    .prepare()?;
    let proof = prove(CircuitKind::Fill, fill.circuit)?;
    Ok(vec![update, (CircuitKind::Fill, fill.publics, proof)])
}

async fn solidity<C: Chain>(
    chain: &C,
    at: (Address, Address),
    kind: CircuitKind,
    publics: &[Fr],
    proof: &ProofWords,
) -> R<bool> {
    let input: Vec<U256> = publics.iter().map(|f| word(*f)).collect();
    Ok(match kind {
        CircuitKind::Fill => {
            let input: [U256; 5] = input.try_into().map_err(|_| eyre::eyre!("5 inputs"))?;
            view(chain, at.0, &FillVerifier::verifyProofCall { proof: *proof, input }).await?
        }
        CircuitKind::Update => {
            let input: [U256; 4] = input.try_into().map_err(|_| eyre::eyre!("4 inputs"))?;
            view(chain, at.1, &UpdateVerifier::verifyProofCall { proof: *proof, input }).await?
        }
    })
}

async fn agree_on<C: Chain>(chain: C) -> R {
    let admin = chain.accounts()[0];
    let at = (
        deploy_code(&chain, admin, &FillVerifier::BYTECODE).await?,
        deploy_code(&chain, admin, &UpdateVerifier::BYTECODE).await?,
    );
    let mut rng = rand::rng();
    let (mut valid, mut invalid) = (0, 0);
    for (kind, publics, proof) in proofs()? {
        let mut cases = vec![(publics.clone(), proof)];
        for _ in 0..6 {
            // A random public input changed, or a random proof word changed (often off-curve).
            let mut p = publics.clone();
            let i = rng.random_range(0..p.len());
            p[i] += Fr::from(rng.random_range(1..u64::MAX));
            cases.push((p, proof));
            let mut q = proof;
            let j = rng.random_range(0..8);
            q[j] = q[j].wrapping_add(U256::from(rng.random_range(1..1_000u64)));
            cases.push((publics.clone(), q));
        }
        // A valid proof of the other circuit's shape: the A and C points swapped.
        let mut swapped = proof;
        swapped.swap(0, 6);
        swapped.swap(1, 7);
        cases.push((publics.clone(), swapped));
        for (p, q) in cases {
            let rust = verify(kind, &p, &q)?;
            let sol = solidity(&chain, at, kind, &p, &q).await?;
            assert_eq!(rust, sol, "{kind:?}: the Rust and Solidity verifiers disagree");
            if rust { valid += 1 } else { invalid += 1 }
        }
    }
    assert_eq!(valid, 2, "exactly the two honest proofs verify");
    assert!(invalid >= 24);
    Ok(())
}

#[tokio::test]
async fn rust_and_solidity_verifiers_agree_on_the_embedded_chain() -> R {
    agree_on(EmbeddedChain::new()).await
}

#[tokio::test]
async fn rust_and_solidity_verifiers_agree_on_anvil() -> R {
    let anvil = Anvil::spawn()?;
    let mut cfg = RpcConfig::new(anvil.url());
    cfg.poll_interval = Some(std::time::Duration::from_millis(5));
    agree_on(RpcChain::connect(cfg).await?).await
}
