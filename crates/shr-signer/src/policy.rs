//! The policy a signer party checks before it signs a treasury transaction, and the ledger of
//! what it let through.
//!
//! A transaction is allowed when it is for the policy's chain, calls a contract the policy
//! names with a function it allows there, pays out only to the policy's recipients, and keeps
//! each token's spend over the last 24 hours under its limit:
//! - `approve(spender, amount)` on a limited token, for a router or a named spender: spends
//!   nothing by itself (the spender pulls only when the treasury calls it);
//! - `swapTokensForExactTokens(amountOut, amountInMax, path, to, deadline)` on a router (Uniswap
//!   V2 Router02), `to` a recipient: spends `amountInMax` of `path[0]`, the most the router can
//!   pull;
//! - a plain transfer of the native coin (empty calldata) to a recipient: spends its value.
//!
//! Every transaction also spends its worst-case fee in the native coin (`gas_limit x
//! max_fee_per_gas`, wei), so a compromised host cannot burn the treasury's gas money either.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use alloy::{
    consensus::TxEip1559,
    primitives::{Address, FixedBytes, TxKind, U256},
    sol,
    sol_types::SolCall,
};

use crate::{Error, Result};

/// The ledger's window, seconds.
pub const DAY_SECS: u64 = 86_400;

sol! {
    /// ERC-20 `approve`.
    function approve(address spender, uint256 amount) external returns (bool);
    /// Uniswap V2 Router02 exact-output swap.
    function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline) external returns (uint256[] amounts);
    /// `CREDarkPool.deposit`: pre-fund the treasury's balance in the pool.
    function deposit(address token, uint256 amount, bytes32 exitKey) external;
    /// `CREDarkPool.requestCollateral`: a sealed order paid from the deposited balance.
    function requestCollateral(bytes32 orderCommitment, bytes32 orderHash, bytes encryptedOrder, uint256 premiumBps, uint64 timeout) external returns (uint256 requestId);
    /// `CREDarkPool.cancel`.
    function cancel(uint256 requestId) external;
}

/// What a signer party lets the treasury sign (JSON: `chainId`, `dailyLimits` as decimal
/// strings by token, `routers`, `spenders`, `recipients`, `swapPaths`, `agents`, optional
/// `darkPools`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// The only chain id signed for.
    pub chain_id: u64,
    /// Tokens the treasury may spend, each with its rolling 24-hour limit (base units); the
    /// native coin under `Address::ZERO` (wei, fees included).
    pub daily_limits: BTreeMap<Address, U256>,
    /// Uniswap V2 routers the treasury may swap through (and approve).
    pub routers: BTreeSet<Address>,
    /// Other contracts an `approve` may name (the dark pool).
    pub spenders: BTreeSet<Address>,
    /// Addresses a swap or a native transfer may pay out to (the reserve vault).
    pub recipients: BTreeSet<Address>,
    /// Confidential dark pools (`CREDarkPool`): `deposit` (spends its amount of its token),
    /// `requestCollateral` (pays only from what was deposited, so nothing new) and `cancel`.
    #[serde(default)]
    pub dark_pools: BTreeSet<Address>,
    /// The only swap routes (`path`, token by token, treasury asset first) a swap may take:
    /// a route through a token the policy does not name could pay a pair an attacker made.
    pub swap_paths: BTreeSet<Vec<Address>>,
    /// Agent keys (enclave signer addresses) whose requests the party answers; none: it
    /// answers nobody.
    pub agents: BTreeSet<Address>,
}

/// One amount a transaction spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spend {
    /// The token (`Address::ZERO` for the native coin).
    pub token: Address,
    /// Base units (wei for the native coin).
    pub amount: U256,
}

/// The spends a party has signed, kept for the rolling 24-hour window.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    entries: VecDeque<(u64, Spend)>,
}

impl Ledger {
    /// What was spent of `token` in the 24 hours up to `now` (unix seconds).
    pub fn spent(&self, token: Address, now: u64) -> U256 {
        self.entries
            .iter()
            .filter(|(at, s)| s.token == token && now.saturating_sub(*at) < DAY_SECS)
            .fold(U256::ZERO, |acc, (_, s)| acc.saturating_add(s.amount))
    }

    /// Records `spends` at `now` and forgets what is older than a day.
    pub fn record(&mut self, now: u64, spends: &[Spend]) {
        while self.entries.front().is_some_and(|(at, _)| now.saturating_sub(*at) >= DAY_SECS) {
            self.entries.pop_front();
        }
        self.entries.extend(spends.iter().map(|s| (now, *s)));
    }
}

impl Policy {
    /// What `tx` would spend, or why the policy refuses it (without the daily limits: see
    /// [`Policy::check`]).
    ///
    /// # Errors
    /// [`Error::WrongChain`], [`Error::Create`], [`Error::UnknownTarget`],
    /// [`Error::UnknownSelector`], [`Error::Decode`], [`Error::SpenderNotAllowed`],
    /// [`Error::RecipientNotAllowed`], [`Error::NoLimit`].
    pub fn spends(&self, tx: &TxEip1559) -> Result<Vec<Spend>> {
        if tx.chain_id != self.chain_id {
            return Err(Error::WrongChain { expected: self.chain_id, got: tx.chain_id });
        }
        let TxKind::Call(to) = tx.to else { return Err(Error::Create) };
        let fee = U256::from(tx.gas_limit).saturating_mul(U256::from(tx.max_fee_per_gas));
        let mut out = vec![Spend { token: Address::ZERO, amount: fee.saturating_add(tx.value) }];
        let data = &tx.input[..];
        if data.is_empty() {
            if !self.recipients.contains(&to) {
                return Err(Error::RecipientNotAllowed { to });
            }
            return self.limited(out);
        }
        let mut selector = FixedBytes::<4>::ZERO;
        let n = data.len().min(4);
        selector[..n].copy_from_slice(&data[..n]);
        if !tx.value.is_zero() {
            // Native value only goes with a plain transfer.
            return Err(Error::UnknownSelector { to, selector });
        }
        if self.routers.contains(&to) {
            if selector != swapTokensForExactTokensCall::SELECTOR {
                return Err(Error::UnknownSelector { to, selector });
            }
            let c = swapTokensForExactTokensCall::abi_decode(data).map_err(|source| {
                Error::Decode { to, function: swapTokensForExactTokensCall::SIGNATURE, source }
            })?;
            if !self.recipients.contains(&c.to) {
                return Err(Error::RecipientNotAllowed { to: c.to });
            }
            if !self.swap_paths.contains(&c.path) {
                return Err(Error::PathNotAllowed { path: c.path });
            }
            let Some(&token) = c.path.first() else {
                return Err(Error::UnknownSelector { to, selector });
            };
            out.push(Spend { token, amount: c.amountInMax });
        } else if self.dark_pools.contains(&to) {
            if selector == depositCall::SELECTOR {
                let c = depositCall::abi_decode(data).map_err(|source| Error::Decode {
                    to,
                    function: depositCall::SIGNATURE,
                    source,
                })?;
                out.push(Spend { token: c.token, amount: c.amount });
            } else if selector == requestCollateralCall::SELECTOR {
                requestCollateralCall::abi_decode(data).map_err(|source| Error::Decode {
                    to,
                    function: requestCollateralCall::SIGNATURE,
                    source,
                })?;
            } else if selector == cancelCall::SELECTOR {
                cancelCall::abi_decode(data).map_err(|source| Error::Decode {
                    to,
                    function: cancelCall::SIGNATURE,
                    source,
                })?;
            } else {
                return Err(Error::UnknownSelector { to, selector });
            }
        } else if self.daily_limits.contains_key(&to) && to != Address::ZERO {
            if selector != approveCall::SELECTOR {
                return Err(Error::UnknownSelector { to, selector });
            }
            let c = approveCall::abi_decode(data).map_err(|source| Error::Decode {
                to,
                function: approveCall::SIGNATURE,
                source,
            })?;
            if !self.routers.contains(&c.spender) && !self.spenders.contains(&c.spender) {
                return Err(Error::SpenderNotAllowed { spender: c.spender });
            }
        } else {
            return Err(Error::UnknownTarget { to });
        }
        self.limited(out)
    }

    /// The allowance an `approve` to a limited token grants (checked by [`Policy::spends`]).
    fn approval(&self, tx: &TxEip1559) -> Option<Spend> {
        let TxKind::Call(token) = tx.to else { return None };
        if !self.daily_limits.contains_key(&token) || token == Address::ZERO {
            return None;
        }
        let c = approveCall::abi_decode(&tx.input).ok()?;
        Some(Spend { token, amount: c.amount })
    }

    fn limited(&self, spends: Vec<Spend>) -> Result<Vec<Spend>> {
        match spends.iter().find(|s| !self.daily_limits.contains_key(&s.token)) {
            Some(s) => Err(Error::NoLimit { token: s.token }),
            None => Ok(spends),
        }
    }

    /// Checks `tx` at `now` (unix seconds) against the policy and the 24-hour window of
    /// `ledger`; when it passes, records its spends (the party then signs) and returns them.
    /// A refused transaction changes nothing.
    ///
    /// # Errors
    /// As [`Policy::spends`], and [`Error::OverDailyLimit`].
    pub fn check(&self, tx: &TxEip1559, now: u64, ledger: &mut Ledger) -> Result<Vec<Spend>> {
        let spends = self.spends(tx)?;
        // An approval spends nothing yet, but one above what is left of today's limit serves
        // no payment the policy would sign: refused, so a payment that cannot pass never
        // leaves a lone approval on chain.
        let approval = self.approval(tx);
        for s in spends.iter().chain(approval.as_ref()) {
            let limit = self.daily_limits[&s.token];
            let spent = ledger.spent(s.token, now);
            if spent.saturating_add(s.amount) > limit {
                return Err(Error::OverDailyLimit {
                    token: s.token,
                    spent,
                    amount: s.amount,
                    limit,
                });
            }
        }
        ledger.record(now, &spends);
        Ok(spends)
    }
}

#[cfg(test)]
mod tests;
