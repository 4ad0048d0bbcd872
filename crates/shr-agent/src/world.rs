//! A deployed recovery world on any [`Chain`]: wBTC and WETH test tokens, the real Uniswap V2
//! factory/router with the WBTC/WETH pair seeded at the real block-17,600,000 depth, a
//! `ReserveVault`, a 4-node DON (simulated TEE) whose reports reach `ReserveAttestation`, the
//! agent's key store on the same platform, and a treasury funded with WETH. The agent's tests,
//! the CLI's `agent run` test and the demo start from it.

use crate::{AgentConfig, StrategyConfig};
use alloy::primitives::{Address, B256, U256};
use shr_chain::Chain;
use shr_contracts::{
    bindings::{ReserveVault, TestToken},
    deploy::{self, UniswapV2},
    send, view,
};
use shr_darkpool::DarkPool;
use shr_enclave::{Enclave, Sealed, SimulatedTee};
use shr_oracle::{
    Deployment, Don, DonConfig, NodeInput, RecoveryAccounts, ReserveReading, attested_state,
};
use shr_store::Store;

use crate::{Error, Result};

type R<T = ()> = Result<T>;

/// WBTC reserve of the real WBTC/WETH V2 pair at block 17,600,000, sats
/// (`data/uniswap/univ2_wbtc_weth_block17600000.json`).
pub const POOL_WBTC: u64 = 16_231_137_593;
/// WETH reserve of the same pair, wei.
pub const POOL_WETH: u128 = 2_571_336_301_536_722_443_178;
/// wBTC supply on 2024-10-04 in the real series, sats.
pub const SUPPLY: u64 = 15_028_131_426_528;
/// WETH minted to the treasury, wei (100 WETH).
pub const TREASURY_WETH: u128 = 100_000_000_000_000_000_000;

/// Who the world's keys belong to.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Seed of the simulated TEE platform (the CLI's dev seed, or a test's).
    pub tee_seed: B256,
    /// The agent's key-store program on that platform (instance 0).
    pub agent_program: String,
    /// The agent's database URL (SQLite or PostgreSQL).
    pub db_url: String,
    /// Collateral price for the agent's USD limit, USD per whole token with 8 decimals.
    pub price_usd_e8: u128,
}

/// The deployed world. Accounts: `accounts()[0]` admin, `[1]` DON transmitter, `[2]` treasury.
#[derive(Debug)]
pub struct World<C> {
    /// The chain.
    pub chain: C,
    /// The simulated TEE platform.
    pub tee: SimulatedTee,
    /// The DON (behind a lock so rounds can run while an agent borrows the chain).
    pub don: tokio::sync::Mutex<Don>,
    /// Forwarder and receiver.
    pub dep: Deployment,
    /// The agent's key store.
    pub key: Enclave,
    /// An agent configuration for this world (execute on, default strategy).
    pub cfg: AgentConfig,
    /// WBTC test token (8 decimals).
    pub wbtc: Address,
    /// WETH test token (18 decimals).
    pub weth: Address,
    /// The Uniswap V2 deployment.
    pub uni: UniswapV2,
    /// The first report's `observedAt`, unix s (100 s after the chain's clock at deploy).
    pub t0: u64,
    /// The agent's database URL.
    pub url: String,
    /// What the DON's nodes count as recovered (the vault; the dark pool once
    /// [`World::use_dark_pool`] names one), read by their hosts at each round.
    pub recovery: RecoveryAccounts,
}

impl<C: Chain> World<C> {
    /// Builds the world on `chain`, the DON having attested the reserve solvent once.
    ///
    /// # Errors
    /// Chain, contract, oracle, enclave and store errors.
    pub async fn new(chain: C, wc: &WorldConfig) -> R<Self> {
        let [admin, _, treasury] = [chain.accounts()[0], chain.accounts()[1], chain.accounts()[2]];
        let t0 = chain.timestamp().await? + 100;
        let tee = SimulatedTee::from_seed(wc.tee_seed);
        let key =
            Enclave::launch_instance(&tee, &wc.agent_program, 0).map_err(Error::SealedDeficit)?;
        let wbtc = deploy::test_token(&chain, admin, "Wrapped BTC", "WBTC", 8, admin).await?;
        let weth = deploy::test_token(&chain, admin, "Wrapped Ether", "WETH", 18, admin).await?;
        let uni = UniswapV2::deploy(&chain, admin).await?;
        uni.seed_pair(
            &chain,
            admin,
            (wbtc, U256::from(POOL_WBTC)),
            (weth, U256::from(POOL_WETH)),
            t0 + 86_400,
        )
        .await?;
        let vault = deploy::reserve_vault(&chain, admin, wbtc, admin).await?;
        let amount = U256::from(TREASURY_WETH);
        send(&chain, admin, weth, &TestToken::mintCall { to: treasury, amount }).await?;
        let mut dcfg = DonConfig::new("wbtc-por", admin, 8);
        dcfg.agent_key = Some(key.identity().hpke);
        let mut don = Don::new(&tee, dcfg)?;
        let dep = don.deploy(&chain, admin).await?;
        let chain_id = chain.chain_id().await?;
        let recovery = RecoveryAccounts { chain_id, vault, treasury, collateral: wbtc, pool: None };
        don.set_recovery(recovery);
        let don_signers = crate::scenario::don_signers(&don, &recovery);
        let don = tokio::sync::Mutex::new(don);
        let url = wc.db_url.clone();
        Store::open(&url).await?;
        let mut cfg = AgentConfig::new(dep.receiver, uni.router, vec![weth, wbtc], vault, treasury);
        cfg.price_usd_e8 = wc.price_usd_e8;
        cfg.strategy = StrategyConfig::default();
        cfg.execute = true;
        cfg.don = don_signers;
        let w = Self { chain, tee, don, dep, key, cfg, wbtc, weth, uni, t0, url, recovery };
        w.round(0, U256::from(SUPPLY)).await?;
        Ok(w)
    }

    /// [`World::new`], then `deficit` (sats) short twice (the second confirms it on chain) with
    /// the sealed deficit handed to the store.
    ///
    /// # Errors
    /// As [`World::new`].
    pub async fn insolvent(chain: C, wc: &WorldConfig, deficit: U256) -> R<Self> {
        let w = Self::new(chain, wc).await?;
        w.short(deficit, true).await?;
        Ok(w)
    }

    /// Two rounds `deficit` (sats) short at `t0 + 3600` and `t0 + 7200`; returns the sealed
    /// deficit notices (one per node), handed to the store when `hand_off`.
    ///
    /// # Errors
    /// As [`World::new`]; [`Error::NoNotice`] if the DON did not attest the shortfall.
    pub async fn short(&self, deficit: U256, hand_off: bool) -> R<Vec<Vec<u8>>> {
        let short = U256::from(SUPPLY).saturating_sub(deficit);
        self.round(3600, short).await?;
        let sealed = self.round(7200, short).await?;
        if sealed.is_empty() {
            return Err(Error::NoNotice);
        }
        if attested_state(&self.chain, self.dep.receiver).await? != (false, self.t0 + 7200) {
            return Err(Error::NoNotice);
        }
        if hand_off {
            let store = self.store().await?;
            for s in &sealed {
                store.put_sealed_deficit(self.t0 + 7200, s).await?; // the DON's off-chain hand-off
            }
        }
        Ok(sealed)
    }

    /// One DON round at `t0 + dt` (seconds; the chain's clock is moved there first if it is
    /// behind) reading `reserves` (sats) plus what was recovered, as each node's host reads it:
    /// the vault's balance and the dark pool's commitment at one block
    /// ([`shr_oracle::read_evidence`]), and the treasury's exit ticket the agent forwarded to
    /// each node's enclave (store mailbox `credit`). Returns the sealed deficit notices (one per
    /// node; empty when none was sealed).
    ///
    /// # Errors
    /// Chain, store and oracle errors.
    pub async fn round(&self, dt: u64, reserves: U256) -> R<Vec<Vec<u8>>> {
        let r = ReserveReading {
            observed_at: self.t0 + dt,
            reserves,
            supply: U256::from(SUPPLY),
            ripcord: false,
        };
        let now = self.chain.timestamp().await?;
        if now < r.observed_at {
            self.chain.advance_time(r.observed_at - now).await?;
        }
        let evidence = shr_oracle::read_evidence(&self.chain, &self.recovery).await?;
        let store = self.store().await?;
        let transmitter = self.chain.accounts()[1];
        let dep = self.dep;
        let mut don = self.don.lock().await;
        let mut tickets = Vec::new();
        // The round's input closure takes a node's index in the DON's signer list.
        for signer in don.signers() {
            tickets.push(store.sealed("credit", &signer.to_string()).await?.map(Sealed));
        }
        let rep = don
            .round(&self.chain, &dep, transmitter, r.observed_at, |i| NodeInput::Recovered {
                inner: Box::new(NodeInput::Reading(r)),
                evidence,
                ticket: tickets.get(i).cloned().flatten(),
            })
            .await?;
        Ok(rep.sealed_deficits.iter().map(|s| s.as_bytes().to_vec()).collect())
    }

    /// Names the dark pool whose treasury balance the nodes count, and the matcher signer
    /// whose exit tickets they accept (from its verified registration).
    pub fn use_dark_pool(&mut self, pool: &DarkPool, matcher: Address) {
        self.recovery.pool = Some((pool.address, matcher));
        self.don.get_mut().set_recovery(self.recovery);
    }

    /// The oracle nodes' `(signer, HPKE key)`, to which the agent forwards its exit ticket.
    pub async fn oracle_nodes(&self) -> Vec<(Address, shr_enclave::HpkePublicKey)> {
        let don = self.don.lock().await;
        don.nodes().iter().map(|n| (n.identity().signer, n.identity().hpke)).collect()
    }

    /// The incident id of the insolvent report.
    pub fn incident(&self) -> String {
        format!("{}:{}", self.dep.receiver, self.t0 + 7200)
    }

    /// `(vault reserves, treasury WETH)`, base units.
    ///
    /// # Errors
    /// Contract errors.
    pub async fn balances(&self) -> R<(U256, U256)> {
        let vault = view(&self.chain, self.cfg.vault, &ReserveVault::reservesCall {}).await?;
        let treasury =
            view(&self.chain, self.weth, &TestToken::balanceOfCall { account: self.cfg.treasury })
                .await?;
        Ok((vault, treasury))
    }

    /// A store on this world's database (a fresh connection, as a restarted process opens).
    ///
    /// # Errors
    /// Store errors.
    pub async fn store(&self) -> R<Store> {
        Ok(Store::open(&self.url).await?)
    }
}
