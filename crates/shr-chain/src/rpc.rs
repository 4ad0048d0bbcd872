//! The JSON-RPC backend: an alloy provider over HTTP.

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::BlockNumberOrTag,
    network::{EthereumWallet, TransactionBuilder, TxSigner},
    primitives::{Address, B256, Bytes, Signature, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{Filter, TransactionRequest},
    transports::{RpcError, TransportErrorKind},
};
use tracing::{debug, warn};

use crate::{
    Backend, Chain, ChainLog, Error, LogFilter, Receipt, Result, SnapshotId, TxRequest, dev_signers,
};

/// Configuration of an [`RpcChain`].
#[derive(Clone)]
pub struct RpcConfig {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8545`.
    pub url: String,
    /// Transaction signers; the chain sends from their addresses. Any alloy [`TxSigner`] fits
    /// (a local key, a hardware or remote KMS signer, a threshold-signing client). Default: the
    /// first ten dev accounts as local keys.
    pub signers: Vec<SharedTxSigner>,
    /// Connection attempts before [`Error::Unreachable`] (default 3).
    pub connect_attempts: u32,
    /// Delay before the first retry, doubled after each (default 200 ms).
    pub retry_delay: Duration,
    /// How long to wait for a sent transaction's receipt (default 60 s).
    pub receipt_timeout: Duration,
    /// How often to poll for a receipt; `None` keeps alloy's default (250 ms on loopback,
    /// 7 s elsewhere). Anvil mines on arrival, so 5 ms suits it.
    pub poll_interval: Option<Duration>,
}

impl RpcConfig {
    /// An endpoint with the dev signers and default retries.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            signers: dev_signers(10).into_iter().map(|s| Arc::new(s) as SharedTxSigner).collect(),
            connect_attempts: 3,
            retry_delay: Duration::from_millis(200),
            receipt_timeout: Duration::from_secs(60),
            poll_interval: None,
        }
    }
}

impl std::fmt::Debug for RpcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcConfig")
            .field("url", &self.url)
            .field("signers", &self.signers.iter().map(|s| s.address()).collect::<Vec<_>>())
            .field("connect_attempts", &self.connect_attempts)
            .field("retry_delay", &self.retry_delay)
            .field("receipt_timeout", &self.receipt_timeout)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// A transaction signer behind the [`TxSigner`] seam, shared with the provider's wallet.
pub type SharedTxSigner = Arc<dyn TxSigner<Signature> + Send + Sync>;

impl RpcConfig {
    /// Replaces the signers with `signers` (e.g. one remote signer for the agent's treasury).
    pub fn with_signers(mut self, signers: impl IntoIterator<Item = SharedTxSigner>) -> Self {
        self.signers = signers.into_iter().collect();
        self
    }
}

/// A chain reached over JSON-RPC (any node; anvil in the integration tests).
///
/// Transactions are signed locally by the configured signers and sent as EIP-1559 transactions;
/// the gas limit is estimated when not given, and an estimate that reverts is returned as
/// [`Error::Reverted`] with the node's revert data (nothing is mined then). Time steering and
/// snapshots use the `evm_*` methods that anvil and hardhat implement.
#[derive(Debug)]
pub struct RpcChain {
    url: String,
    provider: DynProvider,
    accounts: Vec<Address>,
    chain_id: u64,
    receipt_timeout: Duration,
    /// Held while a transaction's nonce is read and the transaction submitted, so concurrent
    /// sends from one account (a DON node transmitting for many feeds) never take one nonce.
    submit: tokio::sync::Mutex<()>,
}

impl RpcChain {
    /// The node's request for a transaction from `from` (one of [`Chain::accounts`]).
    fn request(
        &self,
        from: Address,
        to: Option<Address>,
        data: Bytes,
        value: U256,
    ) -> Result<TransactionRequest> {
        if !self.accounts.contains(&from) {
            return Err(Error::UnknownSender(from));
        }
        let req = TransactionRequest::default().from(from).input(data.into()).value(value);
        Ok(match to {
            Some(to) => req.to(to),
            None => {
                let mut req = req;
                req.set_create();
                req
            }
        })
    }

    /// Connects to `config.url`, checking that it answers `eth_chainId`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a malformed URL; [`Error::Unreachable`] naming the URL when it
    /// does not answer after `connect_attempts` attempts with exponential backoff.
    pub async fn connect(config: RpcConfig) -> Result<Self> {
        let url: url::Url = config
            .url
            .parse()
            .map_err(|source| Error::InvalidUrl { url: config.url.clone(), source })?;
        let accounts: Vec<Address> = config.signers.iter().map(|s| s.address()).collect();
        let mut wallet: Option<EthereumWallet> = None;
        for s in config.signers {
            match wallet.as_mut() {
                Some(w) => w.register_signer(s),
                None => wallet = Some(EthereumWallet::new(s)),
            }
        }
        // Nonces are read from the node for every transaction (no cache), so snapshots, reverts
        // and other senders never leave a stale nonce behind.
        let builder = ProviderBuilder::default()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id();
        let provider = match wallet {
            Some(w) => builder.wallet(w).connect_http(url).erased(),
            None => builder.connect_http(url).erased(),
        };
        if let Some(p) = config.poll_interval {
            provider.client().set_poll_interval(p);
        }
        let mut delay = config.retry_delay;
        let attempts = config.connect_attempts.max(1);
        let mut attempt = 0;
        let chain_id = loop {
            attempt += 1;
            match provider.get_chain_id().await {
                Ok(id) => break id,
                Err(source) if attempt >= attempts => {
                    return Err(Error::Unreachable { url: config.url, attempts, source });
                }
                Err(e) => {
                    warn!(target: "shr::chain", url = %config.url, attempt, error = %e, "RPC endpoint not answering; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        };
        debug!(target: "shr::chain", url = %config.url, chain_id, "connected");
        Ok(Self {
            url: config.url,
            provider,
            accounts,
            chain_id,
            receipt_timeout: config.receipt_timeout,
            submit: tokio::sync::Mutex::new(()),
        })
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying alloy provider, for what the [`Chain`] trait does not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    fn rpc_err(
        &self,
        method: &'static str,
    ) -> impl FnOnce(RpcError<TransportErrorKind>) -> Error + '_ {
        move |source| {
            revert_or(source, |source| Error::Rpc { url: self.url.clone(), method, source })
        }
    }

    async fn raw<P, R>(&self, method: &'static str, params: P) -> Result<R>
    where
        P: alloy::rpc::json_rpc::RpcSend,
        R: alloy::rpc::json_rpc::RpcRecv,
    {
        self.provider.raw_request(method.into(), params).await.map_err(self.rpc_err(method))
    }
}

/// A node's error response that carries revert data becomes [`Error::Reverted`].
fn revert_or(
    source: RpcError<TransportErrorKind>,
    other: impl FnOnce(RpcError<TransportErrorKind>) -> Error,
) -> Error {
    match source.as_error_resp().and_then(|p| p.as_revert_data()) {
        Some(data) => Error::Reverted { data, tx_hash: None, gas_used: 0 },
        None => other(source),
    }
}

#[async_trait::async_trait]
impl Chain for RpcChain {
    fn backend(&self) -> Backend {
        Backend::Rpc
    }

    fn accounts(&self) -> &[Address] {
        &self.accounts
    }

    async fn chain_id(&self) -> Result<u64> {
        Ok(self.chain_id)
    }

    async fn estimate_gas(&self, tx: TxRequest) -> Result<u64> {
        let req = self.request(tx.from, tx.to, tx.data, tx.value)?;
        self.provider.estimate_gas(req).await.map_err(self.rpc_err("eth_estimateGas"))
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        let mut req = self.request(tx.from, tx.to, tx.data, tx.value)?;
        let t0 = std::time::Instant::now();
        let gas = match tx.gas_limit {
            Some(g) => g,
            None => self
                .provider
                .estimate_gas(req.clone())
                .await
                .map_err(self.rpc_err("eth_estimateGas"))?,
        };
        req = req.gas_limit(gas);
        let estimated = t0.elapsed();
        let submitting = self.submit.lock().await;
        let locked = t0.elapsed();
        let pending =
            self.provider.send_transaction(req.clone()).await.map_err(|source| match source {
                // The wallet filler reports a signer's failure as local usage: nothing was sent,
                // unless the signer says a signature may exist all the same.
                RpcError::LocalUsageError(ref e) if !maybe_signed(&**e) => {
                    Error::NotSigned { from: tx.from, source }
                }
                source => self.rpc_err("eth_sendRawTransaction")(source),
            })?;
        drop(submitting);
        let sent = t0.elapsed();
        // Automining nodes (anvil) have the receipt at once; otherwise wait for inclusion.
        let hash = *pending.tx_hash();
        let receipt = match self
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(self.rpc_err("eth_getTransactionReceipt"))?
        {
            Some(r) => r,
            None => pending
                .with_timeout(Some(self.receipt_timeout))
                .get_receipt()
                .await
                .map_err(|source| Error::PendingTransaction { url: self.url.clone(), source })?,
        };
        let tx_hash = receipt.transaction_hash;
        let mined = t0.elapsed();
        tracing::debug!(target: "shr::chain", %tx_hash, estimate_us = estimated.as_micros() as u64, lock_us = locked.as_micros() as u64, sent_us = sent.as_micros() as u64, receipt_us = mined.as_micros() as u64, "transaction timings");
        let block_number = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            // Replay at the parent block to learn the revert data.
            let data =
                match self.provider.call(req).block(block_number.saturating_sub(1).into()).await {
                    Err(e) => {
                        e.as_error_resp().and_then(|p| p.as_revert_data()).unwrap_or_default()
                    }
                    Ok(_) => Bytes::new(),
                };
            return Err(Error::Reverted {
                data,
                tx_hash: Some(tx_hash),
                gas_used: receipt.gas_used,
            });
        }
        let block_timestamp = self.block_timestamp(block_number.into()).await?;
        let logs = receipt.logs().iter().map(to_chain_log).collect();
        Ok(Receipt {
            tx_hash,
            block_number,
            block_timestamp,
            gas_used: receipt.gas_used,
            contract_address: receipt.contract_address,
            logs,
        })
    }

    async fn call(&self, from: Option<Address>, to: Address, data: Bytes) -> Result<Bytes> {
        let mut req = TransactionRequest::default().to(to).input(data.into());
        if let Some(from) = from {
            req = req.from(from);
        }
        self.provider.call(req).await.map_err(self.rpc_err("eth_call"))
    }

    async fn block_number(&self) -> Result<u64> {
        self.provider.get_block_number().await.map_err(self.rpc_err("eth_blockNumber"))
    }

    async fn timestamp(&self) -> Result<u64> {
        self.block_timestamp(BlockNumberOrTag::Latest).await
    }

    async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<()> {
        let latest = self.timestamp().await?;
        if timestamp <= latest {
            return Err(Error::TimestampNotIncreasing { requested: timestamp, latest });
        }
        let _: serde_json::Value = self.raw("evm_setNextBlockTimestamp", (timestamp,)).await?;
        Ok(())
    }

    async fn mine(&self) -> Result<()> {
        let _: serde_json::Value = self.raw("evm_mine", ()).await?;
        Ok(())
    }

    async fn logs(&self, filter: &LogFilter) -> Result<Vec<ChainLog>> {
        let mut f = Filter::new().from_block(filter.from_block);
        f = match filter.to_block {
            Some(b) => f.to_block(b),
            None => f.to_block(BlockNumberOrTag::Latest),
        };
        if let Some(a) = filter.address {
            f = f.address(a);
        }
        if let Some(t) = filter.topic0 {
            f = f.event_signature(t);
        }
        let logs = self.provider.get_logs(&f).await.map_err(self.rpc_err("eth_getLogs"))?;
        Ok(logs.iter().map(to_chain_log).collect())
    }

    async fn balance(&self, address: Address) -> Result<U256> {
        self.provider.get_balance(address).await.map_err(self.rpc_err("eth_getBalance"))
    }

    async fn storage_at(&self, address: Address, slot: U256) -> Result<B256> {
        let v = self
            .provider
            .get_storage_at(address, slot)
            .await
            .map_err(self.rpc_err("eth_getStorageAt"))?;
        Ok(B256::from(v))
    }

    async fn snapshot(&self) -> Result<SnapshotId> {
        Ok(SnapshotId(self.raw("evm_snapshot", ()).await?))
    }

    async fn revert_to(&self, id: SnapshotId) -> Result<()> {
        let ok: bool = self.raw("evm_revert", (id.0,)).await?;
        if ok { Ok(()) } else { Err(Error::UnknownSnapshot(id.0.try_into().unwrap_or(u64::MAX))) }
    }
}

impl RpcChain {
    async fn block_timestamp(&self, block: BlockNumberOrTag) -> Result<u64> {
        let b = self
            .provider
            .get_block_by_number(block)
            .await
            .map_err(self.rpc_err("eth_getBlockByNumber"))?;
        Ok(b.map(|b| b.header.timestamp).unwrap_or_default())
    }
}

fn to_chain_log(l: &alloy::rpc::types::Log) -> ChainLog {
    ChainLog {
        address: l.address(),
        topics: l.topics().to_vec(),
        data: l.data().data.clone(),
        block_number: l.block_number.unwrap_or_default(),
        tx_hash: l.transaction_hash.unwrap_or_default(),
        log_index: l.log_index.unwrap_or_default(),
    }
}

/// Whether a signer's error chain holds a [`MaybeSigned`](crate::MaybeSigned). alloy's signer
/// and builder errors are `#[error(transparent)]`, whose `source()` skips the error they wrap,
/// so those two are opened by hand.
fn maybe_signed(e: &(dyn std::error::Error + 'static)) -> bool {
    use alloy::{network::TransactionBuilderError, signers::Error as SignerError};
    let mut cur = Some(e);
    while let Some(x) = cur {
        if x.is::<crate::MaybeSigned>() {
            return true;
        }
        let signer = match x.downcast_ref::<TransactionBuilderError<alloy::network::Ethereum>>() {
            Some(TransactionBuilderError::Signer(s)) => Some(s),
            _ => x.downcast_ref::<SignerError>(),
        };
        if let Some(SignerError::Other(inner)) = signer {
            return maybe_signed(&**inner);
        }
        cur = x.source();
    }
    false
}
