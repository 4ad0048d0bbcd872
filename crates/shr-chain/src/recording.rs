//! A [`Chain`] decorator that records every transaction sent and every receipt, for audits such
//! as the privacy scan (what did this scenario put into calldata, logs and storage?).

use std::sync::Mutex;

use alloy::primitives::{Address, B256, Bytes, U256};

use crate::{Backend, Chain, ChainLog, LogFilter, Receipt, Result, SnapshotId, TxRequest};

/// Wraps a chain and records what passes through it.
#[derive(Debug)]
pub struct RecordingChain<C> {
    inner: C,
    sent: Mutex<Vec<(TxRequest, Option<Receipt>)>>,
}

impl<C: Chain> RecordingChain<C> {
    /// Wraps `inner`.
    pub fn new(inner: C) -> Self {
        Self { inner, sent: Mutex::new(Vec::new()) }
    }

    /// The wrapped chain.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Every transaction sent so far, with its receipt (`None` when it failed).
    pub fn sent(&self) -> Vec<(TxRequest, Option<Receipt>)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every contract a successful transaction called or created.
    pub fn touched(&self) -> Vec<Address> {
        let mut out: Vec<Address> = self
            .sent()
            .iter()
            .filter_map(|(tx, r)| tx.to.or(r.as_ref().and_then(|r| r.contract_address)))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl RecordingChain<crate::EmbeddedChain> {
    /// Everything public this chain saw or holds, as byte strings to scan: every transaction's
    /// calldata, every log's topics and data (from the receipts and from the chain's own log
    /// index), and every storage slot and value of every account.
    ///
    /// # Errors
    /// Reading the logs failed.
    pub async fn public_bytes(&self) -> Result<Vec<Vec<u8>>> {
        let mut hay: Vec<Vec<u8>> = Vec::new();
        for (tx, receipt) in self.sent() {
            hay.push(tx.data.to_vec());
            for l in receipt.into_iter().flat_map(|r| r.logs) {
                hay.push(l.topics.iter().flat_map(|t| t.0).collect());
                hay.push(l.data.to_vec());
            }
        }
        for l in self.logs(&LogFilter::default()).await? {
            hay.push(l.data.to_vec());
        }
        for (_, slot, value) in self.inner.storage_dump() {
            hay.push(slot.to_be_bytes::<32>().to_vec());
            hay.push(value.to_be_bytes::<32>().to_vec());
        }
        Ok(hay)
    }
}

#[async_trait::async_trait]
impl<C: Chain> Chain for RecordingChain<C> {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    fn accounts(&self) -> &[Address] {
        self.inner.accounts()
    }
    async fn chain_id(&self) -> Result<u64> {
        self.inner.chain_id().await
    }
    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        let r = self.inner.send(tx.clone()).await;
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((tx, r.as_ref().ok().cloned()));
        r
    }
    async fn call(&self, from: Option<Address>, to: Address, data: Bytes) -> Result<Bytes> {
        self.inner.call(from, to, data).await
    }
    async fn estimate_gas(&self, tx: TxRequest) -> Result<u64> {
        self.inner.estimate_gas(tx).await
    }
    async fn block_number(&self) -> Result<u64> {
        self.inner.block_number().await
    }
    async fn timestamp(&self) -> Result<u64> {
        self.inner.timestamp().await
    }
    async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<()> {
        self.inner.set_next_block_timestamp(timestamp).await
    }
    async fn mine(&self) -> Result<()> {
        self.inner.mine().await
    }
    async fn logs(&self, filter: &LogFilter) -> Result<Vec<ChainLog>> {
        self.inner.logs(filter).await
    }
    async fn balance(&self, address: Address) -> Result<U256> {
        self.inner.balance(address).await
    }
    async fn storage_at(&self, address: Address, slot: U256) -> Result<B256> {
        self.inner.storage_at(address, slot).await
    }
    async fn snapshot(&self) -> Result<SnapshotId> {
        self.inner.snapshot().await
    }
    async fn revert_to(&self, id: SnapshotId) -> Result<()> {
        self.inner.revert_to(id).await
    }
}
