//! What an observer of public data derives with arithmetic: the numbers in public bytes and
//! text, and the values that follow from them with the public constants (a token's supply, a
//! pool's reserves). Privacy tests look for private figures among the derived values
//! ([`Observer::finds`]), on the bytes a [`crate::RecordingChain`] recorded and on every other
//! public surface.

use std::collections::BTreeSet;

use alloy::primitives::U256;

/// 10^18: ratios in wad.
const WAD: u128 = 1_000_000_000_000_000_000;

/// The public numbers an observer has collected, and the constants it combines them with.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    numbers: BTreeSet<U256>,
    constants: Vec<U256>,
}

impl Observer {
    /// An observer knowing `constants` (supplies, pool reserves: public by nature).
    pub fn new(constants: &[U256]) -> Self {
        Self { numbers: BTreeSet::new(), constants: constants.to_vec() }
    }

    /// Reads 32-byte words at both alignments (calldata after its 4-byte selector; log data,
    /// topics and storage from 0), a shorter string whole, and the runs of decimal digits in
    /// the bytes read as text.
    pub fn read_bytes(&mut self, h: &[u8]) {
        for start in [0usize, 4] {
            let mut i = start;
            while i + 32 <= h.len() {
                self.numbers.insert(U256::from_be_slice(&h[i..i + 32]));
                i += 32;
            }
        }
        if !h.is_empty() && h.len() < 32 {
            self.numbers.insert(U256::from_be_slice(h));
        }
        self.read_text(&String::from_utf8_lossy(h));
    }

    /// Reads the runs of 4 to 77 decimal digits in `t` (JSON bodies, logs, SSE).
    pub fn read_text(&mut self, t: &str) {
        for run in t.split(|c: char| !c.is_ascii_digit()).filter(|r| (4..=77).contains(&r.len())) {
            if let Ok(v) = run.parse::<U256>() {
                self.numbers.insert(v);
            }
        }
    }

    /// Adds one public number (a planted leak, in the tests that prove a scan can fail).
    pub fn insert(&mut self, v: U256) {
        self.numbers.insert(v);
    }

    /// How many public numbers it has read.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether it has read nothing.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// Every value it derives from a public number `x` in `[1,000, 2^160)` (below: counts,
    /// bps, flags; above: hashes and keys): `x`; `x * 10^k`, `x / 10^k` floored and rounded
    /// (k = 1..12: a token's decimals); and with each constant `c`: `c - x`, `x - c`, `x + c`,
    /// `x * 1e18 / c` (wad), `x * 1e4 / c` (bps), `(c - x) * 1e18 / c` (a shortfall's share).
    pub fn derived(&self) -> BTreeSet<U256> {
        let (ten, wad) = (U256::from(10u8), U256::from(WAD));
        let mut d = BTreeSet::new();
        let (lo, hi) = (U256::from(1_000u32), U256::from(1u8) << 160);
        for &x in self.numbers.iter().filter(|x| **x >= lo && **x < hi) {
            d.insert(x);
            for k in 1..=12u32 {
                let s = ten.pow(U256::from(k));
                d.insert(x * s);
                d.insert(x / s);
                d.insert((x + s / U256::from(2u8)) / s);
            }
            for &c in self.constants.iter().filter(|c| !c.is_zero()) {
                d.insert(c.saturating_sub(x));
                d.insert(x.saturating_sub(c));
                d.insert(x + c);
                d.insert(x * wad / c);
                d.insert(x * U256::from(10_000u32) / c);
                d.insert(c.saturating_sub(x) * wad / c);
            }
        }
        d
    }

    /// The values of `private` it derives.
    pub fn finds(&self, private: &BTreeSet<U256>) -> Vec<U256> {
        let d = self.derived();
        private.iter().filter(|v| d.contains(v)).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_differences_scalings_and_ratios() {
        let supply = U256::from(15_692_639_744_634u64);
        let deficit = U256::from(37_946_742u64);
        let private: BTreeSet<U256> = [deficit].into();
        let mut o = Observer::new(&[supply]);
        o.read_text(r#"{"wbtc_bought":"83000000"}"#);
        assert!(o.finds(&private).is_empty());
        // The reserves, published: supply - reserves is the deficit.
        let mut leak = o.clone();
        leak.insert(supply - deficit);
        assert_eq!(leak.finds(&private), vec![deficit]);
        // The deficit scaled to 18 decimals inside a calldata word.
        let mut leak = o.clone();
        let word = (deficit * U256::from(10u64.pow(10))).to_be_bytes::<32>();
        leak.read_bytes(&[&[0xde, 0xad, 0xbe, 0xef][..], &word].concat());
        assert_eq!(leak.finds(&private), vec![deficit]);
        // Its share of supply in wad.
        let share = deficit * U256::from(WAD) / supply;
        let mut leak = Observer::new(&[supply]);
        leak.insert(supply - deficit);
        assert!(leak.finds(&[share].into()).contains(&share));
    }
}
