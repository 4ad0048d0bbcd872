//! Plain data exchanged with a [`Chain`](crate::Chain).

use alloy::primitives::{Address, B256, Bytes, U256};

/// Which backend a [`Chain`](crate::Chain) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// revm in-process.
    Embedded,
    /// A JSON-RPC node.
    Rpc,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Embedded => "embedded",
            Self::Rpc => "rpc",
        })
    }
}

/// A transaction to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// Sender; must be one of [`Chain::accounts`](crate::Chain::accounts).
    pub from: Address,
    /// Callee; `None` creates a contract from `data`.
    pub to: Option<Address>,
    /// Calldata, or init code for a creation.
    pub data: Bytes,
    /// Value, wei.
    pub value: U256,
    /// Gas limit; `None` lets the backend choose (the block gas limit on the embedded chain, an
    /// estimate on RPC).
    pub gas_limit: Option<u64>,
}

impl TxRequest {
    /// A call of `to` with `data` from `from`.
    pub fn call(from: Address, to: Address, data: impl Into<Bytes>) -> Self {
        Self { from, to: Some(to), data: data.into(), ..Default::default() }
    }

    /// A contract creation.
    pub fn create(from: Address, init_code: impl Into<Bytes>) -> Self {
        Self { from, to: None, data: init_code.into(), ..Default::default() }
    }

    /// Sets the value, wei.
    pub fn with_value(mut self, value: U256) -> Self {
        self.value = value;
        self
    }

    /// Sets the gas limit.
    pub fn with_gas_limit(mut self, gas_limit: u64) -> Self {
        self.gas_limit = Some(gas_limit);
        self
    }
}

/// A log with its position in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLog {
    /// Emitting contract.
    pub address: Address,
    /// Topics; `topics[0]` is the event signature hash for non-anonymous events.
    pub topics: Vec<B256>,
    /// ABI-encoded non-indexed fields.
    pub data: Bytes,
    /// Block that holds it.
    pub block_number: u64,
    /// Transaction that emitted it.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
}

impl ChainLog {
    /// The log as alloy's primitive, for `SolEvent::decode_log`.
    pub fn to_primitive(&self) -> alloy::primitives::Log {
        alloy::primitives::Log::new_unchecked(self.address, self.topics.clone(), self.data.clone())
    }
}

/// A mined transaction's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash (on the embedded chain, a synthetic id: see [`EmbeddedChain`](crate::EmbeddedChain)).
    pub tx_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Block timestamp, unix seconds.
    pub block_timestamp: u64,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Created contract, for a creation.
    pub contract_address: Option<Address>,
    /// Emitted logs.
    pub logs: Vec<ChainLog>,
}

/// Which logs to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only logs from this contract.
    pub address: Option<Address>,
    /// Only logs whose first topic (event signature) is this.
    pub topic0: Option<B256>,
    /// First block, inclusive.
    pub from_block: u64,
    /// Last block, inclusive; `None` is the latest.
    pub to_block: Option<u64>,
}

impl LogFilter {
    /// Logs of `event` (signature hash) emitted by `address` from block `from_block` on.
    pub fn event(address: Address, event: B256, from_block: u64) -> Self {
        Self { address: Some(address), topic0: Some(event), from_block, to_block: None }
    }
}

/// A snapshot handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotId(pub U256);

/// Polls a [`Chain`](crate::Chain) for new logs from a persisted cursor (the next block to read).
///
/// Delivery is at least once: a consumer that persists [`LogCursor::next_block`] after handling a
/// batch never misses a log, and must tolerate seeing a log again after a crash.
#[derive(Debug, Clone)]
pub struct LogCursor {
    filter: LogFilter,
}

impl LogCursor {
    /// A cursor over `filter` starting at `filter.from_block`.
    pub fn new(filter: LogFilter) -> Self {
        Self { filter }
    }

    /// The next block this cursor will read.
    pub fn next_block(&self) -> u64 {
        self.filter.from_block
    }

    /// Reads every matching log from the cursor to the latest block, then moves past it.
    pub async fn poll(&mut self, chain: &dyn crate::Chain) -> crate::Result<Vec<ChainLog>> {
        let latest = chain.block_number().await?;
        if latest < self.filter.from_block {
            return Ok(Vec::new());
        }
        let filter = LogFilter { to_block: Some(latest), ..self.filter.clone() };
        let logs = chain.logs(&filter).await?;
        self.filter.from_block = latest + 1;
        Ok(logs)
    }
}
