//! What the vault desk serves: vaults, ticks, simulations and rebalance events (all public on
//! chain, so every route may serve them).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A vault as anyone reading the chain sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VaultView {
    /// Market id (0 = A, 1 = B).
    pub id: usize,
    /// The risk engine reference's vault id (`VAULT-A-WSTETH-BUSDC`, `VAULT-B-WEETH-BETH`).
    #[serde(rename = "vaultId")]
    pub vault_id: String,
    /// `A` or `B`.
    pub name: String,
    /// Collateral symbol.
    pub collateral: String,
    /// The loan token's symbol (Morpho Blue lends it directly: USDC, WETH).
    pub debt: String,
    /// Collateral, whole tokens in wad (decimal string).
    pub collateral_wad: String,
    /// Debt in underlying assets, whole tokens in wad (decimal string).
    pub debt_wad: String,
    /// Collateral oracle price, USD.
    pub collateral_price_usd: f64,
    /// Debt-asset oracle price, USD.
    pub debt_price_usd: f64,
    /// Liquidation threshold, bps.
    pub liquidation_threshold_bps: u32,
    /// The health factor as Morpho Blue judges it (collateral x oracle price x LLTV / borrowed),
    /// exact decimal (`inf` without debt).
    pub health_factor: String,
    /// Whether the HF is under the trigger (1.15).
    pub breached: bool,
}

/// One call of an encoded plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EncodedCall {
    /// `rebalance` (the transaction), or the action inside it: `authorize`, `repay`,
    /// `withdraw`, `swap`, `resupply`, `revoke`.
    pub kind: String,
    /// The contract called (0x address).
    pub target: String,
    /// Value, wei (decimal string).
    pub value: String,
    /// ABI-encoded calldata, 0x hex.
    pub calldata: String,
    /// What it does, amounts in whole tokens.
    pub description: String,
}

/// The plan's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanMetadata {
    /// Gas limit of the transaction from the chain's `eth_estimateGas`.
    #[serde(rename = "gasEstimate")]
    pub gas_estimate: u64,
    /// Projected health factor after execution at the oracle prices, exact decimal.
    #[serde(rename = "projectedHf")]
    pub projected_hf: String,
    /// Loan token repaid, base units (decimal string).
    #[serde(rename = "repayAssets")]
    pub repay_assets: String,
    /// Collateral the exact-output swap may spend at most, base units (decimal string).
    #[serde(rename = "amountInMaximum")]
    pub amount_in_maximum: String,
    /// Collateral it spends at the route's reserves when planned (Uniswap V2 `getAmountsIn`).
    #[serde(rename = "expectedAmountIn")]
    pub expected_amount_in: String,
    /// Slippage tolerance the plan was solved with, bps.
    #[serde(rename = "slippageBps")]
    pub slippage_bps: u32,
    /// The transaction's deadline, unix seconds (chain time).
    pub deadline: u64,
}

/// A plan as a bundler-compatible object: the one transaction `POST /execute` sends, byte for
/// byte, and the ordered actions it performs (inside that transaction, atomically).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PlanBundle {
    /// Chain id.
    #[serde(rename = "chainId")]
    pub chain_id: u64,
    /// The sender: the position owner (0x address).
    pub from: String,
    /// The transaction.
    pub transaction: EncodedCall,
    /// What it does, in order.
    pub actions: Vec<EncodedCall>,
    /// Gas estimate, projected HF, amounts.
    pub metadata: PlanMetadata,
}

/// An executed plan.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// The transaction hash.
    pub tx: String,
    /// Gas used.
    pub gas: u64,
    /// When, RFC 3339 UTC.
    #[serde(rename = "executedAt")]
    pub executed_at: String,
    /// HF read back from chain after execution, exact decimal.
    #[serde(rename = "hfOnchainAfter")]
    pub hf_onchain_after: String,
}

/// A `RebalanceEvent`: the plan made for a breached vault (at the end of a simulation, or at
/// `POST /execute` when no plan was pending) and its execution once there is one. The flat
/// fields (`hf_before` ... `error`) keep the shape of earlier releases.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RebalanceEvent {
    /// Event id (`<simulationId>-<vaultId>`, or `exec-<n>-<vaultId>`).
    #[serde(rename = "eventId")]
    pub event_id: String,
    /// Market id.
    pub vault_id: usize,
    /// The reference's vault id.
    #[serde(rename = "vaultId")]
    pub vault_ref: String,
    /// The simulation that made it (empty when made at execute).
    #[serde(rename = "simulationId")]
    pub simulation_id: String,
    /// `planned`, `executed`, `failed` (the transaction reverted: nothing changed),
    /// `superseded` (a newer simulation restarted the prices), `infeasible` (no plan).
    pub status: String,
    /// When the plan was made, RFC 3339 UTC.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// The simulation tick it was made at.
    pub tick: Option<u32>,
    /// HF when planned, exact decimal.
    pub hf_before: String,
    /// Projected HF after, at the oracle prices (`null` without a plan).
    pub hf_projected: Option<String>,
    /// Collateral to sell at most (`amountInMaximum`), wad.
    pub sell_collateral_wad: Option<String>,
    /// Debt repaid, wad.
    pub repay_debt_wad: Option<String>,
    /// Slippage the plan was solved with, bps.
    pub slippage_bps: Option<u32>,
    /// The encoded plan (`null` when infeasible).
    pub plan: Option<PlanBundle>,
    /// The execution (`null` until executed).
    pub execution: Option<Execution>,
    /// HF read back from chain after execution (`null` until executed).
    pub hf_onchain_after: Option<String>,
    /// The rebalance transaction.
    pub tx: Option<String>,
    /// Its gas.
    pub gas: Option<u64>,
    /// Why there is no plan, or why its transaction reverted.
    pub error: Option<String>,
}

/// One tick of a crash simulation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TickView {
    /// Tick number.
    pub label: u32,
    /// When the tick ran, RFC 3339 UTC.
    pub at: String,
    /// The oracle price the tick moved.
    pub changed: Option<PriceChange>,
    /// Oracle prices after the tick, USD: `[wstETH, weETH, USDC, WETH]`.
    pub prices_usd: Vec<f64>,
    /// Each vault's on-chain HF after the tick, exact decimal.
    pub health_factors: Vec<String>,
}

/// One oracle price a tick moved (the reference's `changed`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PriceChange {
    /// The asset's symbol (`wstETH`, `weETH`).
    pub symbol: String,
    /// Price before, USD.
    pub old: f64,
    /// Price after, USD.
    pub new: f64,
    /// The drop, percent of the old price (two decimals).
    #[serde(rename = "dropPct")]
    pub drop_pct: f64,
}

/// The oracle symbols of [`TickView::prices_usd`], in order.
pub const SYMBOLS: [&str; 4] = ["wstETH", "weETH", "USDC", "WETH"];

/// A crash simulation: running (ticks so far) or finished (its plans).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SimulationView {
    /// Simulation id (`sim-<unix ms>-<n>`).
    #[serde(rename = "simulationId")]
    pub simulation_id: String,
    /// `running`, `done`, `superseded` (a newer `POST /simulate` restarted the crash) or
    /// `error`.
    pub status: String,
    /// Seed of the drops.
    pub seed: u64,
    /// Ticks run after the first breach.
    #[serde(rename = "extraTicks")]
    pub extra_ticks: usize,
    /// Pause between ticks, ms (`null`: a random 2000-3000 ms, seeded).
    #[serde(rename = "tickMs")]
    pub tick_ms: Option<u64>,
    /// Start, RFC 3339 UTC.
    #[serde(rename = "startedAt")]
    pub started_at: String,
    /// The ticks run so far (each one collateral asset -5 ... -15 % on its oracle).
    pub ticks: Vec<TickView>,
    /// Whether a vault went under the trigger.
    pub breached: bool,
    /// The first tick with a breached vault.
    pub first_breach: Option<u32>,
    /// The rebalance events made when the simulation stopped, one per breached vault.
    pub plans: Vec<RebalanceEvent>,
    /// What stopped it, for `error`.
    pub error: Option<String>,
}

/// Which vaults `POST /api/execute` rebalances.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// One vault.
    One(usize),
    /// Every breached vault.
    All,
}
