//! The tests' world: [`shr_agent::world::World`] with a test platform seed and a temporary
//! database.

#![allow(dead_code, unreachable_pub)]

use alloy::primitives::{B256, U256};
use shr_agent::world::{World, WorldConfig};
use shr_chain::Chain;

pub use shr_agent::world::SUPPLY;

pub type R<T = ()> = eyre::Result<T>;

/// 0.2 WBTC: within 50 bps on the real pool.
pub const DEFICIT: u64 = 20_000_000;

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
    Ok(TestWorld(World::new(chain, &config(&dir)).await?, dir))
}

/// The world, `deficit` short and attested insolvent, the notice handed off.
pub async fn insolvent<C: Chain>(chain: C, deficit: U256) -> R<TestWorld<C>> {
    let dir = tempfile::tempdir()?;
    Ok(TestWorld(World::insolvent(chain, &config(&dir), deficit).await?, dir))
}
