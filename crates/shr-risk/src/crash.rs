//! Crash simulation: seeded random drops (the reference design's: each tick one collateral asset
//! falls 5 to 15 %) and replays of real daily prices (`data/prices/`), run over a [`VaultBook`]
//! until the first breach, plus `extra_ticks` more.

use std::io::Read;

use serde::Serialize;

use crate::{ASSETS_N, Asset, Error, Result, VaultBook, WAD};

/// Oracle and DEX prices at one tick, USD per whole token, wad, indexed by [`Asset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tick {
    /// Label (a date for replays, `tick N` for random drops).
    pub label: u32,
    /// What the lending market's oracle says.
    pub oracle_wad: [u128; ASSETS_N],
    /// What the collateral sells for on the DEX.
    pub dex_wad: [u128; ASSETS_N],
}

/// A xorshift64* generator: reproducible from `SEED`, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `n` ticks from `start`: each tick one of the collateral assets (wstETH, weETH) falls by a
/// uniform 5..15 % (in basis points), oracle and DEX alike.
pub fn random_drops(start: [u128; ASSETS_N], seed: u64, n: u32) -> Vec<Tick> {
    let mut rng = Rng::new(seed);
    let mut p = start;
    let mut out = Vec::with_capacity(n as usize);
    for t in 0..n {
        let asset =
            if rng.next_u64().is_multiple_of(2) { Asset::WstEth } else { Asset::WeEth } as usize;
        let drop_bps = 500 + (rng.next_u64() % 1_001) as u128;
        p[asset] = mul_div(p[asset], 10_000 - drop_bps, 10_000);
        out.push(Tick { label: t, oracle_wad: p, dex_wad: p });
    }
    out
}

fn wad(s: &str, field: &'static str) -> Result<u128> {
    let v: f64 = s.parse().map_err(|_| Error::Invalid { field, value: s.to_string() })?;
    if !(v.is_finite() && v > 0.0) {
        return Err(Error::Invalid { field, value: s.to_string() });
    }
    Ok((v * WAD as f64) as u128)
}

fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    let v = alloy_primitives::U256::from(a) * alloy_primitives::U256::from(b)
        / alloy_primitives::U256::from(c.max(1));
    v.saturating_to()
}

/// Daily ticks from the Yahoo export in `data/prices/` between `from` and `to` (inclusive,
/// `YYYY-MM-DD`). Oracle prices follow Aave's construction: wstETH = ETH/USD x the
/// wstETH/stETH exchange rate (`wsteth_close / steth_close`), weETH likewise from its ETH ratio,
/// so a stETH depeg does **not** reach the oracle; DEX prices are the market closes, so it hits
/// the swap. Labels are `YYYYMMDD`.
///
/// # Errors
/// [`Error::Invalid`] naming the column and the value of a malformed row, or a missing column.
pub fn replay_yahoo(reader: impl Read, from: &str, to: &str) -> Result<Vec<Tick>> {
    let mut r = csv::Reader::from_reader(reader);
    let headers =
        r.headers().map_err(|e| Error::Invalid { field: "header", value: e.to_string() })?.clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(Error::Invalid { field: name, value: "missing column".into() })
    };
    let (date, eth, steth, wsteth, weeth_eth, usdc) = (
        col("date")?,
        col("eth_close")?,
        col("steth_close")?,
        col("wsteth_close")?,
        col("weeth_eth_close")?,
        col("usdc_close")?,
    );
    let mut out = Vec::new();
    for row in r.records() {
        let row = row.map_err(|e| Error::Invalid { field: "row", value: e.to_string() })?;
        let d = &row[date];
        if d < from || d > to {
            continue;
        }
        let e = wad(&row[eth], "eth_close")?;
        let st = wad(&row[steth], "steth_close")?;
        let wst = wad(&row[wsteth], "wsteth_close")?;
        let u = wad(&row[usdc], "usdc_close")?;
        // weETH listed 2023-12: before it, track ETH at par.
        let we_ratio =
            if row[weeth_eth].is_empty() { WAD } else { wad(&row[weeth_eth], "weeth_eth_close")? };
        // wstETH per stETH exchange rate, then ETH/USD x rate: the depeg cancels out.
        let oracle_wst = mul_div(e, mul_div(wst, WAD, st), WAD);
        let we = mul_div(e, we_ratio, WAD);
        let label: u32 = d
            .replace('-', "")
            .parse()
            .map_err(|_| Error::Invalid { field: "date", value: d.into() })?;
        out.push(Tick { label, oracle_wad: [oracle_wst, we, u, e], dex_wad: [wst, we, u, e] });
    }
    Ok(out)
}

/// What a run through ticks found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    /// Label of the first tick with a breach (`None`: no breach).
    pub first_breach: Option<u32>,
    /// `(tick label, breached position indices)` for every tick run.
    pub breaches: Vec<(u32, Vec<usize>)>,
}

/// Scans `book` at each tick until the first breach, then `extra_ticks` more.
pub fn run(book: &VaultBook, ticks: &[Tick], trigger_wad: u128, extra_ticks: usize) -> RunOutcome {
    let mut first = None;
    let mut breaches = Vec::new();
    let mut after = 0;
    for t in ticks {
        let b = book.scan(&t.oracle_wad, trigger_wad);
        if first.is_none() && !b.is_empty() {
            first = Some(t.label);
        }
        breaches.push((t.label, b));
        if first.is_some() {
            if after >= extra_ticks {
                break;
            }
            after += 1;
        }
    }
    RunOutcome { first_breach: first, breaches }
}
