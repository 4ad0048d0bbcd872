//! The embedded backend: revm in-process.

use std::{
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::AccountInfo,
};

use crate::{
    Backend, Chain, ChainLog, Error, LogFilter, Receipt, Result, SnapshotId, TxRequest, dev_signers,
};

/// Configuration of an [`EmbeddedChain`].
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// Chain id (default 31337, as anvil).
    pub chain_id: u64,
    /// Number of funded dev accounts derived from [`DEV_MNEMONIC`](crate::DEV_MNEMONIC) (default 10).
    pub dev_accounts: u32,
    /// Balance of each dev account, wei (default 10,000 ether).
    pub dev_balance: U256,
    /// Genesis timestamp, unix seconds (default: wall time at creation).
    pub genesis_timestamp: u64,
    /// Block gas limit, which is also the default transaction gas limit (default 30,000,000).
    pub block_gas_limit: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Self {
            chain_id: 31337,
            dev_accounts: 10,
            dev_balance: U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64)),
            genesis_timestamp: now,
            block_gas_limit: 30_000_000,
        }
    }
}

/// An EVM chain in this process: revm (Prague rules) over an in-memory state.
///
/// Every transaction is mined in a block of its own. Block timestamps advance by one second per
/// block unless set with [`Chain::set_next_block_timestamp`] or [`Chain::advance_time`], so runs
/// are deterministic. Transactions are not signed: the chain executes them as the unlocked dev
/// accounts (anvil's impersonation); a transaction hash is therefore a synthetic id,
/// `keccak256(chain_id ‖ sender ‖ nonce)`, unique per chain. Base fee and gas price are zero.
#[derive(Debug)]
pub struct EmbeddedChain {
    chain_id: u64,
    block_gas_limit: u64,
    accounts: Vec<Address>,
    state: Mutex<State>,
    snapshots: Mutex<Snapshots>,
}

#[derive(Debug, Default)]
struct Snapshots {
    next: u64,
    taken: std::collections::HashMap<u64, State>,
}

#[derive(Debug, Clone)]
struct State {
    db: CacheDB<EmptyDB>,
    /// Timestamps of every block, indexed by number; block 0 is genesis.
    blocks: Vec<u64>,
    next_timestamp: Option<u64>,
    logs: Vec<ChainLog>,
}

impl EmbeddedChain {
    /// A new chain with the default configuration.
    pub fn new() -> Self {
        Self::with_config(EmbeddedConfig::default())
    }

    /// A new chain with `config`.
    pub fn with_config(config: EmbeddedConfig) -> Self {
        let accounts: Vec<Address> =
            dev_signers(config.dev_accounts).iter().map(|s| s.address()).collect();
        let mut db = CacheDB::new(EmptyDB::default());
        for a in &accounts {
            db.insert_account_info(
                *a,
                AccountInfo { balance: config.dev_balance, ..Default::default() },
            );
        }
        let state = State {
            db,
            blocks: vec![config.genesis_timestamp],
            next_timestamp: None,
            logs: Vec::new(),
        };
        Self {
            chain_id: config.chain_id,
            block_gas_limit: config.block_gas_limit,
            accounts,
            state: Mutex::new(state),
            snapshots: Mutex::default(),
        }
    }

    /// Every non-zero storage word of every account: `(address, slot, value)`. For audits such
    /// as the privacy scan.
    pub fn storage_dump(&self) -> Vec<(Address, U256, U256)> {
        let state = self.lock();
        let mut out: Vec<_> = state
            .db
            .cache
            .accounts
            .iter()
            .flat_map(|(a, acc)| {
                acc.storage.iter().filter(|(_, v)| !v.is_zero()).map(|(k, v)| (*a, *k, *v))
            })
            .collect();
        out.sort();
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-written: every mutation
        // below is applied after execution succeeded, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn execute(
        &self,
        state: &mut State,
        tx: TxEnv,
        number: u64,
        timestamp: u64,
        commit: bool,
    ) -> Result<ExecutionResult> {
        let chain_id = self.chain_id;
        let gas_limit = self.block_gas_limit;
        let mut evm = Context::mainnet()
            .with_db(&mut state.db)
            .modify_cfg_chained(|c| {
                c.chain_id = chain_id;
                c.spec = SpecId::PRAGUE;
            })
            .modify_block_chained(|b| {
                b.number = U256::from(number);
                b.timestamp = U256::from(timestamp);
                b.gas_limit = gas_limit;
                b.basefee = 0;
            })
            .build_mainnet();
        if commit {
            evm.transact_commit(tx).map_err(|e| Error::Rejected(Box::new(e)))
        } else {
            evm.transact(tx).map(|r| r.result).map_err(|e| Error::Rejected(Box::new(e)))
        }
    }

    fn nonce(state: &State, address: Address) -> u64 {
        state.db.cache.accounts.get(&address).map(|a| a.info.nonce).unwrap_or(0)
    }

    fn tx_env(
        &self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        nonce: u64,
        gas: Option<u64>,
    ) -> TxEnv {
        TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .value(value)
            .nonce(nonce)
            .chain_id(Some(self.chain_id))
            .gas_limit(gas.unwrap_or(self.block_gas_limit))
            .gas_price(0)
            .build_fill()
    }
}

impl Default for EmbeddedChain {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Chain for EmbeddedChain {
    fn backend(&self) -> Backend {
        Backend::Embedded
    }

    fn accounts(&self) -> &[Address] {
        &self.accounts
    }

    async fn chain_id(&self) -> Result<u64> {
        Ok(self.chain_id)
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        if !self.accounts.contains(&tx.from) {
            return Err(Error::UnknownSender(tx.from));
        }
        let mut state = self.lock();
        let nonce = Self::nonce(&state, tx.from);
        let kind = tx.to.map_or(TxKind::Create, TxKind::Call);
        let env = self.tx_env(tx.from, kind, tx.data, tx.value, nonce, tx.gas_limit);
        let number = state.blocks.len() as u64;
        let last = *state.blocks.last().expect("genesis exists");
        let timestamp = state.next_timestamp.unwrap_or(last + 1);
        let result = self.execute(&mut state, env, number, timestamp, true)?;
        // CacheDB keeps its own copy of committed logs; ours are indexed below.
        state.db.cache.logs.clear();

        let mut pre = Vec::with_capacity(8 + 20 + 8);
        pre.extend_from_slice(&self.chain_id.to_be_bytes());
        pre.extend_from_slice(tx.from.as_slice());
        pre.extend_from_slice(&nonce.to_be_bytes());
        let tx_hash = keccak256(&pre);
        // The transaction is mined whatever its outcome, as on a real chain.
        state.blocks.push(timestamp);
        state.next_timestamp = None;
        let gas_used = result.tx_gas_used();
        match result {
            ExecutionResult::Success { logs, .. } => {
                let contract_address =
                    if tx.to.is_none() { Some(tx.from.create(nonce)) } else { None };
                let logs: Vec<ChainLog> = logs
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| ChainLog {
                        address: l.address,
                        topics: l.data.topics().to_vec(),
                        data: l.data.data.clone(),
                        block_number: number,
                        tx_hash,
                        log_index: i as u64,
                    })
                    .collect();
                state.logs.extend(logs.iter().cloned());
                Ok(Receipt {
                    tx_hash,
                    block_number: number,
                    block_timestamp: timestamp,
                    gas_used,
                    contract_address,
                    logs,
                })
            }
            ExecutionResult::Revert { output, .. } => {
                Err(Error::Reverted { data: output, tx_hash: Some(tx_hash), gas_used })
            }
            ExecutionResult::Halt { reason, .. } => {
                Err(Error::Halted { reason: format!("{reason:?}"), gas_used })
            }
        }
    }

    async fn estimate_gas(&self, tx: TxRequest) -> Result<u64> {
        if !self.accounts.contains(&tx.from) {
            return Err(Error::UnknownSender(tx.from));
        }
        let mut state = self.lock();
        let nonce = Self::nonce(&state, tx.from);
        let kind = tx.to.map_or(TxKind::Create, TxKind::Call);
        let number = state.blocks.len() as u64;
        let last = *state.blocks.last().expect("genesis exists");
        let timestamp = state.next_timestamp.unwrap_or(last + 1);
        let mut run = |limit: u64| {
            let env = self.tx_env(tx.from, kind, tx.data.clone(), tx.value, nonce, Some(limit));
            self.execute(&mut state, env, number, timestamp, false)
        };
        // As eth_estimateGas: the lowest limit at which the transaction succeeds (the gas it
        // spends before refunds is a lower bound; the 63/64 rule can need more).
        let mut lo = match run(self.block_gas_limit)? {
            ExecutionResult::Success { gas, .. } => gas.total_gas_spent().saturating_sub(1),
            ExecutionResult::Revert { output, gas, .. } => {
                return Err(Error::Reverted {
                    data: output,
                    tx_hash: None,
                    gas_used: gas.total_gas_spent(),
                });
            }
            ExecutionResult::Halt { reason, gas, .. } => {
                return Err(Error::Halted {
                    reason: format!("{reason:?}"),
                    gas_used: gas.total_gas_spent(),
                });
            }
        };
        let mut hi = self.block_gas_limit;
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            match run(mid) {
                Ok(ExecutionResult::Success { .. }) => hi = mid,
                _ => lo = mid,
            }
        }
        Ok(hi)
    }

    async fn call(&self, from: Option<Address>, to: Address, data: Bytes) -> Result<Bytes> {
        let mut state = self.lock();
        let from = from.unwrap_or_default();
        let nonce = Self::nonce(&state, from);
        let env = self.tx_env(from, TxKind::Call(to), data, U256::ZERO, nonce, None);
        let number = state.blocks.len() as u64 - 1;
        let timestamp = *state.blocks.last().expect("genesis exists");
        match self.execute(&mut state, env, number, timestamp, false)? {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => {
                Err(Error::Reverted { data: output, tx_hash: None, gas_used: 0 })
            }
            ExecutionResult::Halt { reason, gas, .. } => Err(Error::Halted {
                reason: format!("{reason:?}"),
                gas_used: gas.total_gas_spent(),
            }),
        }
    }

    async fn block_number(&self) -> Result<u64> {
        Ok(self.lock().blocks.len() as u64 - 1)
    }

    async fn timestamp(&self) -> Result<u64> {
        Ok(*self.lock().blocks.last().expect("genesis exists"))
    }

    async fn set_next_block_timestamp(&self, timestamp: u64) -> Result<()> {
        let mut state = self.lock();
        let latest = *state.blocks.last().expect("genesis exists");
        if timestamp <= latest {
            return Err(Error::TimestampNotIncreasing { requested: timestamp, latest });
        }
        state.next_timestamp = Some(timestamp);
        Ok(())
    }

    async fn mine(&self) -> Result<()> {
        let mut state = self.lock();
        let last = *state.blocks.last().expect("genesis exists");
        let ts = state.next_timestamp.take().unwrap_or(last + 1);
        state.blocks.push(ts);
        Ok(())
    }

    async fn logs(&self, filter: &LogFilter) -> Result<Vec<ChainLog>> {
        let state = self.lock();
        let to = filter.to_block.unwrap_or(u64::MAX);
        // Logs are appended in block order: binary-search the first block, then scan.
        let start = state.logs.partition_point(|l| l.block_number < filter.from_block);
        Ok(state.logs[start..]
            .iter()
            .take_while(|l| l.block_number <= to)
            .filter(|l| filter.address.is_none_or(|a| a == l.address))
            .filter(|l| filter.topic0.is_none_or(|t| l.topics.first() == Some(&t)))
            .cloned()
            .collect())
    }

    async fn balance(&self, address: Address) -> Result<U256> {
        Ok(self.lock().db.cache.accounts.get(&address).map(|a| a.info.balance).unwrap_or_default())
    }

    async fn storage_at(&self, address: Address, slot: U256) -> Result<B256> {
        let state = self.lock();
        let word = state
            .db
            .cache
            .accounts
            .get(&address)
            .and_then(|a| a.storage.get(&slot).copied())
            .unwrap_or_default();
        Ok(B256::from(word))
    }

    async fn snapshot(&self) -> Result<SnapshotId> {
        let snap = self.lock().clone();
        let mut snaps = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        let id = snaps.next;
        snaps.next += 1;
        snaps.taken.insert(id, snap);
        Ok(SnapshotId(U256::from(id)))
    }

    async fn revert_to(&self, id: SnapshotId) -> Result<()> {
        let key: u64 = id.0.try_into().map_err(|_| Error::UnknownSnapshot(u64::MAX))?;
        let snap = self
            .snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .taken
            .remove(&key)
            .ok_or(Error::UnknownSnapshot(key))?;
        *self.lock() = snap;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn value_transfer_mines_a_block_and_moves_balance() {
        let chain = EmbeddedChain::new();
        let [a, b] = [chain.accounts()[0], chain.accounts()[1]];
        let before = chain.balance(b).await.unwrap();
        let r = chain
            .send(TxRequest { from: a, to: Some(b), value: U256::from(7), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(r.block_number, 1);
        assert_eq!(r.gas_used, 21_000);
        assert_eq!(chain.balance(b).await.unwrap(), before + U256::from(7));
    }

    #[tokio::test]
    async fn estimate_gas_is_the_lowest_limit_that_succeeds_and_mines_nothing() {
        let chain = EmbeddedChain::new();
        let [a, b] = [chain.accounts()[0], chain.accounts()[1]];
        let transfer =
            TxRequest { from: a, to: Some(b), value: U256::from(7), ..Default::default() };
        assert_eq!(chain.estimate_gas(transfer.clone()).await.unwrap(), 21_000);
        assert_eq!(chain.block_number().await.unwrap(), 0);
        // A contract whose code is a bare REVERT fails at any limit.
        // init: CODECOPY the 3-byte runtime PUSH0 PUSH0 REVERT and RETURN it.
        let init = Bytes::from_static(&[
            0x60, 0x03, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x03, 0x60, 0x00, 0xf3, 0x5f, 0x5f,
            0xfd,
        ]);
        let (reverter, _) = chain.deploy(a, init).await.unwrap();
        let err = chain.estimate_gas(TxRequest::call(a, reverter, Bytes::new())).await.unwrap_err();
        assert!(matches!(err, Error::Reverted { .. }), "{err}");
        let err = chain
            .estimate_gas(TxRequest { from: Address::repeat_byte(9), ..transfer })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnknownSender(_)), "{err}");
    }

    #[tokio::test]
    async fn unknown_sender_is_refused_without_mining() {
        let chain = EmbeddedChain::new();
        let err = chain
            .send(TxRequest::call(Address::repeat_byte(9), Address::ZERO, Bytes::new()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnknownSender(_)), "{err}");
        assert_eq!(chain.block_number().await.unwrap(), 0);
    }
}
