//! Chain backends for Self-Healing Reserve.
//!
//! Every other part of the system (the DON's transmissions, the recovery agent's swaps, the dark
//! pool's settlements, the risk engine's rebalances) reaches an EVM chain through one seam, the
//! [`Chain`] trait, which has two implementations:
//!
//! - [`EmbeddedChain`]: revm in-process, with its own blocks, timestamps, per-sender nonces,
//!   receipts, logs and snapshots; dev accounts derived from the standard test mnemonic (the same
//!   addresses anvil funds). The demo and most tests run on it, with no external process.
//! - [`RpcChain`]: an alloy provider over HTTP to any node (anvil for integration tests, or a real
//!   network), signing with the dev keys or any alloy [`TxSigner`](alloy::network::TxSigner) (a remote or
//!   threshold signer fits the same seam).
//!
//! The trait speaks raw calldata and bytecode; typed bindings and deploy helpers live in
//! `shr-contracts`, which also decodes custom revert errors through the contracts' ABIs.

mod dev;
mod embedded;
mod error;
pub mod observer;
mod recording;
mod rpc;
mod types;

pub use dev::{DEV_MNEMONIC, dev_signers};
pub use embedded::{EmbeddedChain, EmbeddedConfig};
pub use error::MaybeSigned;
pub use error::{Error, Result};
pub use recording::RecordingChain;
pub use rpc::{RpcChain, RpcConfig, SharedTxSigner};
pub use types::{Backend, ChainLog, LogCursor, LogFilter, Receipt, SnapshotId, TxRequest};

use alloy::primitives::{Address, B256, Bytes, U256};

/// One EVM chain: send transactions, call views, read logs, steer time.
///
/// Both backends mine one block per transaction (anvil's automine), so a receipt is final when
/// [`Chain::send`] returns. Times are unix seconds; amounts are wei (or token base units in
/// calldata, which this trait never interprets).
#[async_trait::async_trait]
pub trait Chain: Send + Sync + std::fmt::Debug {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// The accounts this chain can send from (dev accounts, or the configured signers).
    fn accounts(&self) -> &[Address];

    /// The chain id (31337 for the embedded chain and a default anvil).
    async fn chain_id(&self) -> Result<u64>;

    /// Sends a transaction, mines it and returns its receipt.
    ///
    /// # Errors
    /// [`Error::Reverted`] with the raw revert data when execution reverts (decode it with
    /// `shr-contracts`), [`Error::Halted`] on out-of-gas or an invalid opcode,
    /// [`Error::UnknownSender`] when `from` is not in [`Chain::accounts`], and transport errors.
    async fn send(&self, tx: TxRequest) -> Result<Receipt>;

    /// Executes a call against the latest state without mining; returns the return data.
    ///
    /// # Errors
    /// [`Error::Reverted`] when the call reverts.
    async fn call(&self, from: Option<Address>, to: Address, data: Bytes) -> Result<Bytes>;

    /// The gas limit `tx` needs against the latest state (`eth_estimateGas`: the lowest limit at
    /// which it succeeds, found by bisection on the embedded chain, asked of the node on RPC).
    ///
    /// # Errors
    /// [`Error::Reverted`] or [`Error::Halted`] when it fails at any limit,
    /// [`Error::UnknownSender`], transport errors.
    async fn estimate_gas(&self, tx: TxRequest) -> Result<u64>;

    /// Deploys `init_code` (creation bytecode with ABI-encoded constructor arguments appended).
    ///
    /// # Errors
    /// As [`Chain::send`]; [`Error::NoContractAddress`] if the receipt names no contract.
    async fn deploy(&self, from: Address, init_code: Bytes) -> Result<(Address, Receipt)> {
        let receipt = self.send(TxRequest::create(from, init_code)).await?;
        let address = receipt.contract_address.ok_or(Error::NoContractAddress(receipt.tx_hash))?;
        Ok((address, receipt))
    }

    /// The latest block number.
    async fn block_number(&self) -> Result<u64>;

    /// The latest block's timestamp, unix seconds.
    async fn timestamp(&self) -> Result<u64>;

    /// Sets the timestamp of the next mined block (unix seconds, strictly after the latest).
    ///
    /// # Errors
    /// [`Error::TimestampNotIncreasing`] when `timestamp` is not after the latest block's.
    async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<()>;

    /// Mines an empty block `seconds` after the latest one; returns its timestamp.
    async fn advance_time(&self, seconds: u64) -> Result<u64> {
        let next = self.timestamp().await? + seconds.max(1);
        self.set_next_block_timestamp(next).await?;
        self.mine().await?;
        Ok(next)
    }

    /// Mines one empty block.
    async fn mine(&self) -> Result<()>;

    /// Logs matching `filter`, in chain order.
    async fn logs(&self, filter: &LogFilter) -> Result<Vec<ChainLog>>;

    /// The native balance of `address`, wei.
    async fn balance(&self, address: Address) -> Result<U256>;

    /// The storage word at `slot` of `address`.
    async fn storage_at(&self, address: Address, slot: U256) -> Result<B256>;

    /// Takes a snapshot of the whole chain state.
    async fn snapshot(&self) -> Result<SnapshotId>;

    /// Reverts to `id`, dropping every block mined since. The snapshot is consumed.
    ///
    /// # Errors
    /// [`Error::UnknownSnapshot`] if `id` was never taken or already used.
    async fn revert_to(&self, id: SnapshotId) -> Result<()>;
}
