//! The fill circuit: a dark-pool settlement of one request, proven valid.
//!
//! Public inputs (five field elements; `CREDarkPool.confidentialFill` builds them from its own
//! storage and the oracle TWAP the call names):
//! `old_root`, `new_root`, `order_hash` (the request's Poseidon order commitment),
//! `market = twap_wad + premium_bps * 2^128 + filled * 2^142` (`filled`: 1 for FILLED, 0 for
//! PARTIALLY_FILLED), `requester = party + slot * 2^160`.
//!
//! It proves, with every maker slot of the tree as the anonymity set: the old maker leaves and
//! the requester's leaf open under `old_root`; the order opens to `order_hash`
//! (`Poseidon(size, min_price_wad, max_price_wad, min_fill, salt)`); each maker's fill is at most
//! its collateral; each price is the matching policy's ask `ceil(twap * (10_000 + spread) /
//! 10_000)` with `spread <= premium_bps`, inside the order's `[min_price_wad, max_price_wad]`;
//! each payment is `ceil(amount * price / 1e18)` (the maker never gets less than its ask); the
//! fills sum to the filled amount, never above the order's size; the requester pays the sum of
//! the payments out of its balance and receives the filled collateral; every balance stays in
//! range (collateral 64 bits, payment 128 bits); the status matches (FILLED: the whole size;
//! PARTIALLY_FILLED: at least the order's minimum fill and at least one unit, less than the
//! size); every maker leaf and the requester's leaf are re-blinded under `new_root`.

use alloy_primitives::{Address, B256, U256};
use ark_bn254::Fr;
use ark_r1cs_std::{eq::EqGadget, fields::FieldVar, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use serde::{Deserialize, Serialize};

use crate::{
    BalanceTree, DEPTH, Error, LEAVES, Leaf, MAKER_SLOTS, Result,
    gadgets::{Cs, pow2},
    poseidon::{hash, hash_var},
    tree::{address_fe, blinding_fe, fe_bytes, random_blinding},
};

const WAD: u128 = 1_000_000_000_000_000_000;
const BPS: u64 = 10_000;
/// Bits of a spread or premium (both at most 10,000 bps).
const BPS_BITS: usize = 14;
/// Bits of the remainder of a payment's rounding (below 1e18 < 2^60).
const WAD_BITS: usize = 60;

/// The opening of a request's order commitment (sealed to the matcher inside the order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOpening {
    /// Collateral wanted, base units (64-bit).
    pub size: u64,
    /// Lowest acceptable price, payment base units per collateral base unit, wad.
    pub min_price_wad: u128,
    /// Highest acceptable price, same unit.
    pub max_price_wad: u128,
    /// Smallest fill worth settling, base units.
    pub min_fill: u64,
    /// A random field element (32 big-endian bytes) hiding the order.
    pub salt: B256,
}

impl OrderOpening {
    /// `Poseidon(size, min_price_wad, max_price_wad, min_fill, salt)`, the commitment a request
    /// carries on chain.
    ///
    /// # Errors
    /// [`Error::Blinding`] for a salt that is not a field element.
    pub fn commitment(&self) -> Result<B256> {
        Ok(fe_bytes(hash(&self.fields()?)?))
    }

    fn fields(&self) -> Result<[Fr; 5]> {
        Ok([
            Fr::from(self.size),
            Fr::from(self.min_price_wad),
            Fr::from(self.max_price_wad),
            Fr::from(self.min_fill),
            blinding_fe(self.salt)?,
        ])
    }

    /// A fresh random salt for an order.
    pub fn random_salt() -> B256 {
        random_blinding()
    }
}

/// One maker's fill, as the matching core decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakerFill {
    /// The maker's slot (below [`MAKER_SLOTS`]).
    pub slot: usize,
    /// Collateral delivered, base units.
    pub amount: u64,
    /// The maker's spread over the TWAP, bps.
    pub spread_bps: u32,
}

/// A maker's ask: `ceil(twap * (10_000 + spread) / 10_000)`, wad (the matching policy's).
pub fn ask(twap_wad: u128, spread_bps: u32) -> Result<u128> {
    let v =
        (U256::from(twap_wad) * U256::from(BPS + u64::from(spread_bps))).div_ceil(U256::from(BPS));
    u128::try_from(v).map_err(|_| Error::Range("ask"))
}

/// A payment: `ceil(amount * price / 1e18)`, base units.
pub fn pay(amount: u64, price_wad: u128) -> Result<u128> {
    let v = (U256::from(amount) * U256::from(price_wad)).div_ceil(U256::from(WAD));
    u128::try_from(v).map_err(|_| Error::Range("payment"))
}

/// Everything a fill proof is built from.
#[derive(Debug, Clone)]
pub struct FillWitness {
    /// The tree before (the matcher's confirmed or staged state).
    pub tree: BalanceTree,
    /// The requester and its slot (at or above [`MAKER_SLOTS`]).
    pub requester: (Address, usize),
    /// The oracle TWAP the chain names, wad.
    pub twap_wad: u128,
    /// The request's premium, bps.
    pub premium_bps: u32,
    /// The order.
    pub order: OrderOpening,
    /// The fills (one per maker slot at most).
    pub fills: Vec<MakerFill>,
}

/// A fill made ready to prove: the circuit, the tree after, the roots and the public word.
#[derive(Debug, Clone)]
pub struct PreparedFill {
    /// The circuit with its witness.
    pub circuit: FillCircuit,
    /// The tree after the fill.
    pub tree: BalanceTree,
    /// Root before.
    pub old_root: B256,
    /// Root after.
    pub new_root: B256,
    /// True for FILLED, false for PARTIALLY_FILLED.
    pub filled: bool,
    /// Collateral filled, base units.
    pub total: u64,
    /// Payment, base units.
    pub payment: u128,
    /// The circuit's public inputs.
    pub publics: Vec<Fr>,
}

impl FillWitness {
    /// Applies the fills to the tree, checking every rule the circuit enforces, and builds the
    /// circuit.
    ///
    /// # Errors
    /// [`Error::Slot`] for a requester in a maker slot or a maker outside them, or the same
    /// maker twice; [`Error::NotOwner`] when the requester's slot is not its own;
    /// [`Error::Fill`] naming the rule a fill breaks (spread above the premium, price outside
    /// the band, fill above the maker's balance, total above the order, status);
    /// [`Error::Balance`] when the requester cannot pay.
    pub fn prepare(&self) -> Result<PreparedFill> {
        let (requester, rslot) = self.requester;
        if !(MAKER_SLOTS..LEAVES).contains(&rslot) {
            return Err(Error::Slot(rslot));
        }
        let r_old = *self.tree.leaf(rslot)?;
        if r_old.party != requester || requester.is_zero() {
            return Err(Error::NotOwner { slot: rslot, party: requester });
        }
        if self.premium_bps as u64 > BPS {
            return Err(Error::Fill("premium above 10,000 bps"));
        }
        let o = &self.order;
        let mut amount = [0u64; MAKER_SLOTS];
        let mut spread = [None::<u32>; MAKER_SLOTS];
        for f in &self.fills {
            if f.slot >= MAKER_SLOTS || spread[f.slot].is_some() {
                return Err(Error::Slot(f.slot));
            }
            amount[f.slot] = f.amount;
            spread[f.slot] = Some(f.spread_bps);
        }
        let default_spread =
            self.fills.first().map(|f| f.spread_bps).ok_or(Error::Fill("no fill"))?;
        let mut tree = self.tree.clone();
        let (mut total, mut payment) = (0u64, 0u128);
        let mut makers = Vec::with_capacity(MAKER_SLOTS);
        for slot in 0..MAKER_SLOTS {
            let old = *self.tree.leaf(slot)?;
            let s = spread[slot].unwrap_or(default_spread);
            if s > self.premium_bps {
                return Err(Error::Fill("spread above the premium"));
            }
            let price = ask(self.twap_wad, s)?;
            if price < o.min_price_wad || price > o.max_price_wad {
                return Err(Error::Fill("price outside the order's band"));
            }
            let a = amount[slot];
            let p = pay(a, price)?;
            let c = old
                .collateral
                .checked_sub(a)
                .ok_or(Error::Fill("fill above the maker's collateral"))?;
            let new = Leaf {
                collateral: c,
                payment: old.payment.checked_add(p).ok_or(Error::Range("maker payment"))?,
                ..old.reblinded()
            };
            total = total.checked_add(a).ok_or(Error::Range("filled"))?;
            payment = payment.checked_add(p).ok_or(Error::Range("payment"))?;
            tree.set(slot, new)?;
            makers.push(MakerWitness {
                old: leaf_fields(&old)?,
                new_blinding: blinding_fe(new.blinding)?,
                amount: Fr::from(a),
                spread: Fr::from(u64::from(s)),
                price: Fr::from(price),
                payment: Fr::from(p),
            });
        }
        if total > o.size {
            return Err(Error::Fill("fills above the order's size"));
        }
        if total == 0 || total < o.min_fill {
            return Err(Error::Fill("fills below the order's minimum fill"));
        }
        let filled = total == o.size;
        let r_new = Leaf {
            collateral: r_old
                .collateral
                .checked_add(total)
                .ok_or(Error::Range("requester collateral"))?,
            payment: r_old
                .payment
                .checked_sub(payment)
                .ok_or(Error::Balance { have: r_old.payment, amount: payment })?,
            ..r_old.reblinded()
        };
        tree.set(rslot, r_new)?;
        // The old tree's levels give its root and the requester's path; the new root rehashes
        // only the 17 changed leaves and their ancestors.
        let mut levels = self.tree.levels()?;
        let path = crate::tree::path_in(&levels, rslot);
        let old_root = crate::tree::root_in(&levels);
        let changed: Vec<usize> = (0..MAKER_SLOTS).chain([rslot]).collect();
        tree.update_levels(&mut levels, &changed)?;
        let new_root = crate::tree::root_in(&levels);
        let order_hash = o.commitment()?;
        let publics = vec![
            blinding_fe(old_root)?,
            blinding_fe(new_root)?,
            blinding_fe(order_hash)?,
            Fr::from(self.twap_wad)
                + Fr::from(u64::from(self.premium_bps)) * pow2(128)
                + Fr::from(u64::from(filled)) * pow2(142),
            address_fe(requester) + Fr::from(rslot as u64) * pow2(160),
        ];
        let circuit = FillCircuit {
            publics: publics.clone(),
            makers,
            requester: leaf_fields(&r_old)?,
            requester_new_blinding: blinding_fe(r_new.blinding)?,
            siblings: path[..DEPTH - 1].iter().map(|s| blinding_fe(*s)).collect::<Result<_>>()?,
            order: o.fields()?.to_vec(),
        };
        Ok(PreparedFill { circuit, tree, old_root, new_root, filled, total, payment, publics })
    }
}

fn leaf_fields(l: &Leaf) -> Result<[Fr; 4]> {
    Ok([address_fe(l.party), Fr::from(l.collateral), Fr::from(l.payment), blinding_fe(l.blinding)?])
}

#[derive(Debug, Clone, Default)]
struct MakerWitness {
    old: [Fr; 4],
    new_blinding: Fr,
    amount: Fr,
    spread: Fr,
    price: Fr,
    payment: Fr,
}

/// The R1CS of a fill (see the module docs). `Default` is the shape for the setup.
#[derive(Debug, Clone)]
pub struct FillCircuit {
    publics: Vec<Fr>,
    makers: Vec<MakerWitness>,
    requester: [Fr; 4],
    requester_new_blinding: Fr,
    siblings: Vec<Fr>,
    order: Vec<Fr>,
}

impl Default for FillCircuit {
    fn default() -> Self {
        Self {
            publics: vec![Fr::from(0u64); 5],
            makers: vec![MakerWitness::default(); MAKER_SLOTS],
            requester: [Fr::from(0u64); 4],
            requester_new_blinding: Fr::from(0u64),
            siblings: vec![Fr::from(0u64); DEPTH - 1],
            order: vec![Fr::from(0u64); 5],
        }
    }
}

impl ConstraintSynthesizer<Fr> for FillCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let c = Cs(cs.clone());
        let publics: Vec<FpVar<Fr>> =
            self.publics.iter().map(|v| c.input(*v)).collect::<Result<_, _>>()?;
        let (old_root, new_root, order_hash) = (&publics[0], &publics[1], &publics[2]);
        let market = c.unpack(&publics[3], &[128, BPS_BITS, 1])?;
        let (twap, premium, full) = (&market[0], &market[1], &market[2]);
        let who = c.unpack(&publics[4], &[160, DEPTH])?;
        let (requester, rslot) = (&who[0], &who[1]);
        let rindex = c.bits(rslot, DEPTH)?;
        // The requester's slot is in the right subtree (not a maker slot).
        rindex[DEPTH - 1].enforce_equal(&ark_r1cs_std::boolean::Boolean::TRUE)?;

        let order: Vec<FpVar<Fr>> =
            self.order.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
        hash_var(&cs, &order)?.enforce_equal(order_hash)?;
        let (size, min_price, max_price, min_fill) = (&order[0], &order[1], &order[2], &order[3]);
        // The band's bounds are 128-bit prices (a bound near the field's modulus would act as a
        // negative price in the differences below).
        c.range(min_price, 128)?;
        c.range(max_price, 128)?;
        c.range(size, 64)?;
        c.range(min_fill, 64)?;

        let bps = FpVar::Constant(Fr::from(BPS));
        let wad = FpVar::Constant(Fr::from(WAD));
        let (mut old_leaves, mut new_leaves) = (Vec::new(), Vec::new());
        let (mut total, mut payment) = (FpVar::zero(), FpVar::zero());
        for m in &self.makers {
            let old: Vec<FpVar<Fr>> =
                m.old.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
            let amount = c.witness(m.amount)?;
            let spread = c.witness(m.spread)?;
            let price = c.witness(m.price)?;
            let pay = c.witness(m.payment)?;
            c.range(&amount, 64)?;
            c.range(&spread, BPS_BITS)?;
            c.range(&(premium - &spread), BPS_BITS)?;
            // price = ceil(twap * (10_000 + spread) / 10_000): 0 <= price*1e4 - twap*(1e4+spread) < 1e4.
            let r = &price * &bps - twap * (&bps + &spread);
            c.range(&r, BPS_BITS)?;
            c.range(&(FpVar::Constant(Fr::from(BPS - 1)) - &r), BPS_BITS)?;
            c.range(&(&price - min_price), 128)?;
            c.range(&(max_price - &price), 128)?;
            // pay = ceil(amount * price / 1e18): 0 <= pay*1e18 - amount*price < 1e18.
            let q = &pay * &wad - &amount * &price;
            c.range(&q, WAD_BITS)?;
            c.range(&(FpVar::Constant(Fr::from(WAD - 1)) - &q), WAD_BITS)?;
            let new_c = &old[1] - &amount;
            let new_p = &old[2] + &pay;
            c.range(&new_c, 64)?;
            c.range(&new_p, 128)?;
            let new_b = c.witness(m.new_blinding)?;
            old_leaves.push(hash_var(&cs, &old)?);
            new_leaves.push(hash_var(&cs, &[old[0].clone(), new_c, new_p, new_b])?);
            total += &amount;
            payment += &pay;
        }

        // Status: FILLED is the whole size; PARTIALLY_FILLED at least min_fill and one unit, less
        // than the size. total <= size in both.
        full.mul_equals(&(size - &total), &FpVar::zero())?;
        c.range(&(size - &total - FpVar::one() + full), 64)?;
        c.range(&(&total - min_fill), 64)?;
        c.range(&(&total - FpVar::one()), 64)?;

        // The requester receives the collateral and pays.
        let r_old: Vec<FpVar<Fr>> =
            self.requester.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
        r_old[0].enforce_equal(requester)?;
        let r_new_c = &r_old[1] + &total;
        let r_new_p = &r_old[2] - &payment;
        c.range(&r_new_c, 64)?;
        c.range(&r_new_p, 128)?;
        let r_new_b = c.witness(self.requester_new_blinding)?;
        let siblings: Vec<FpVar<Fr>> =
            self.siblings.iter().map(|v| c.witness(*v)).collect::<Result<_, _>>()?;
        let r_old_leaf = hash_var(&cs, &r_old)?;
        let r_new_leaf = hash_var(&cs, &[requester.clone(), r_new_c, r_new_p, r_new_b])?;

        let subtree = |leaves: Vec<FpVar<Fr>>| -> Result<FpVar<Fr>, SynthesisError> {
            let mut level = leaves;
            while level.len() > 1 {
                level = level
                    .chunks(2)
                    .map(|p| hash_var(&cs, &[p[0].clone(), p[1].clone()]))
                    .collect::<Result<_, _>>()?;
            }
            Ok(level.remove(0))
        };
        for (leaves, r_leaf, root) in
            [(old_leaves, r_old_leaf, old_root), (new_leaves, r_new_leaf, new_root)]
        {
            let makers_root = subtree(leaves)?;
            let right = c.root(&r_leaf, &rindex[..DEPTH - 1], &siblings)?;
            hash_var(&cs, &[makers_root, right])?.enforce_equal(root)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ark_relations::gr1cs::ConstraintSystem;

    use super::*;

    fn satisfied(c: FillCircuit) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        c.generate_constraints(cs.clone()).unwrap();
        cs.is_satisfied().unwrap()
    }

    fn valid() -> (FillCircuit, BalanceTree) {
        let mut tree = BalanceTree::default();
        for s in 0..4 {
            let party = Address::left_padding_from(&[s as u8 + 1]);
            tree.set(s, Leaf { party, collateral: 1_000, payment: 0, blinding: random_blinding() })
                .unwrap();
        }
        let req = Address::repeat_byte(0xaa);
        tree.set(
            16,
            Leaf {
                party: req,
                collateral: 0,
                payment: 10u128.pow(21),
                blinding: random_blinding(),
            },
        )
        .unwrap();
        let twap = 2 * WAD;
        let w = FillWitness {
            tree: tree.clone(),
            requester: (req, 16),
            twap_wad: twap,
            premium_bps: 50,
            order: OrderOpening {
                size: 1_500,
                min_price_wad: twap,
                max_price_wad: 3 * WAD,
                min_fill: 1,
                salt: random_blinding(),
            },
            fills: vec![
                MakerFill { slot: 0, amount: 1_000, spread_bps: 10 },
                MakerFill { slot: 2, amount: 500, spread_bps: 20 },
            ],
        };
        (w.prepare().unwrap().circuit, tree)
    }

    /// The circuit itself refuses what the native checks refuse: each lie below is written
    /// straight into a valid witness (as a prover who skips `prepare` would).
    #[test]
    #[allow(clippy::assign_op_pattern)]
    fn lies_in_the_witness_leave_the_circuit_unsatisfied() {
        let (c, _) = valid();
        assert!(satisfied(c.clone()));
        let lie = |f: &dyn Fn(&mut FillCircuit)| {
            let mut x = c.clone();
            f(&mut x);
            satisfied(x)
        };
        // Overfill: a maker delivers more than its collateral.
        assert!(!lie(&|x| x.makers[0].amount = Fr::from(1_001u64)));
        // A price outside the band / not the ask of its spread.
        assert!(!lie(&|x| x.makers[0].price = x.makers[0].price + Fr::from(1u64)));
        // A spread above the premium.
        assert!(!lie(&|x| x.makers[2].spread = Fr::from(51u64)));
        // A payment rounded down (the maker short-changed) or inflated.
        assert!(!lie(&|x| x.makers[0].payment = x.makers[0].payment - Fr::from(1u64)));
        assert!(!lie(&|x| x.makers[2].payment = x.makers[2].payment + Fr::from(1u64)));
        // A balance that would go below zero wraps the field and leaves the range.
        assert!(!lie(&|x| x.requester[2] = Fr::from(1u64)));
        // The status: FILLED claimed for a partial fill.
        assert!(!lie(&|x| x.order[0] = Fr::from(1_501u64)));
        // A stale or forged old root, a new root of the prover's choosing.
        assert!(!lie(&|x| x.publics[0] = x.publics[0] + Fr::from(1u64)));
        assert!(!lie(&|x| x.publics[1] = Fr::from(6u64)));
        // Another order than the request's.
        assert!(!lie(&|x| x.publics[2] = x.publics[2] + Fr::from(1u64)));
        // The requester in a maker slot.
        assert!(!lie(&|x| x.publics[4] = x.publics[4] - pow2(164)));
        // The prover checks the witness against the setup's matrices before proving.
        let mut overfill = c.clone();
        overfill.makers[0].amount = Fr::from(1_001u64);
        assert!(matches!(
            crate::prove(crate::CircuitKind::Fill, overfill),
            Err(Error::Unsatisfied("FillVerifier"))
        ));
        assert!(crate::prove(crate::CircuitKind::Fill, c).is_ok());
    }
}
