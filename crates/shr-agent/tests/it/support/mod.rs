//! The tests' world: [`shr_agent::world::World`] with a test platform seed and a temporary
//! database.

#![allow(dead_code, unreachable_pub)]

use alloy::primitives::{B256, U256};
use shr_agent::world::{World, WorldConfig};
use shr_chain::Chain;

pub use shr_agent::world::SUPPLY;

pub type R<T = ()> = eyre::Result<T>;

/// 0.2 WBTC: with the restore band, within 100 bps on the real pool.
pub const DEFICIT: u64 = 20_000_000;

/// The tests' restore band: one point (2 ppm above 100 %), so that one buy is one known size
/// and a second buy would show (the band's draw is tested in the strategy and the scenarios).
pub const BAND_PPM: (u32, u32) = (2, 2);

/// Whether `vault` (sats) is exactly one buy of the restore target for [`DEFICIT`] on
/// [`SUPPLY`].
pub fn one_buy(vault: alloy::primitives::U256) -> bool {
    use alloy::primitives::U256;
    let mut t = shr_agent::StrategyConfig::default().target;
    t.band_ppm = BAND_PPM;
    vault == t.size(U256::from(DEFICIT), U256::from(SUPPLY), 0)
}

/// A world on `chain` and the temporary directory holding its database.
pub struct TestWorld<C>(pub World<C>, tempfile::TempDir);

impl<C> std::ops::Deref for TestWorld<C> {
    type Target = World<C>;
    fn deref(&self) -> &World<C> {
        &self.0
    }
}

impl<C> std::ops::DerefMut for TestWorld<C> {
    fn deref_mut(&mut self) -> &mut World<C> {
        &mut self.0
    }
}

fn config(dir: &tempfile::TempDir) -> WorldConfig {
    WorldConfig {
        tee_seed: B256::repeat_byte(3),
        agent_program: "shr-agent/key-store@test".into(),
        db_url: format!("sqlite:{}", dir.path().join("agent.db").display()),
        price_usd_e8: 62_000 * 100_000_000,
    }
}

/// The world, solvent once.
pub async fn solvent<C: Chain>(chain: C) -> R<TestWorld<C>> {
    let dir = tempfile::tempdir()?;
    let mut w = World::new(chain, &config(&dir)).await?;
    w.cfg.strategy.target.band_ppm = BAND_PPM;
    Ok(TestWorld(w, dir))
}

/// The world, `deficit` short and attested insolvent, the notice handed off.
pub async fn insolvent<C: Chain>(chain: C, deficit: U256) -> R<TestWorld<C>> {
    let dir = tempfile::tempdir()?;
    let mut w = World::insolvent(chain, &config(&dir), deficit).await?;
    w.cfg.strategy.target.band_ppm = BAND_PPM;
    Ok(TestWorld(w, dir))
}
