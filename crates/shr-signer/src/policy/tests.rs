//! The policy against the attacks a compromised agent host would try, and the rolling limit
//! against a naive reference.

use alloy::primitives::{B256, Bytes, address};
use proptest::prelude::*;

use super::*;

const WBTC: Address = address!("0x00000000000000000000000000000000000000b1");
const ROUTER: Address = address!("0x00000000000000000000000000000000000000a1");
const POOL: Address = address!("0x00000000000000000000000000000000000000d1");
const VAULT: Address = address!("0x00000000000000000000000000000000000000c1");
const THIEF: Address = address!("0x00000000000000000000000000000000000000ee");

fn policy() -> Policy {
    Policy {
        chain_id: 31_337,
        daily_limits: [
            (WBTC, U256::from(1_000_000_000u64)),
            (Address::ZERO, U256::from(10u64).pow(U256::from(18))),
        ]
        .into(),
        routers: [ROUTER].into(),
        spenders: [POOL].into(),
        recipients: [VAULT].into(),
        dark_pools: [POOL].into(),
        swap_paths: [vec![WBTC, VAULT]].into(),
        agents: Default::default(),
    }
}

fn tx(to: Address, input: Vec<u8>) -> TxEip1559 {
    TxEip1559 {
        chain_id: 31_337,
        to: TxKind::Call(to),
        input: Bytes::from(input),
        gas_limit: 200_000,
        max_fee_per_gas: 1_000_000_000,
        ..Default::default()
    }
}

fn swap(amount_in_max: u64, to: Address) -> TxEip1559 {
    let c = swapTokensForExactTokensCall {
        amountOut: U256::from(1u64),
        amountInMax: U256::from(amount_in_max),
        path: vec![WBTC, VAULT],
        to,
        deadline: U256::from(2_000_000_000u64),
    };
    tx(ROUTER, c.abi_encode())
}

fn approve(token: Address, spender: Address) -> TxEip1559 {
    tx(token, approveCall { spender, amount: U256::from(400_000_000u64) }.abi_encode())
}

#[test]
fn the_agents_own_transactions_pass() {
    let p = policy();
    let mut l = Ledger::default();
    assert!(p.check(&approve(WBTC, ROUTER), 0, &mut l).is_ok());
    assert!(p.check(&approve(WBTC, POOL), 0, &mut l).is_ok());
    let spends = p.check(&swap(400_000_000, VAULT), 10, &mut l).unwrap();
    assert_eq!(spends[1], Spend { token: WBTC, amount: U256::from(400_000_000u64) });
    assert_eq!(spends[0].amount, U256::from(200_000u64 * 1_000_000_000));
    assert_eq!(l.spent(WBTC, 10), U256::from(400_000_000u64));
    // An approval above what is left of today's limit (an unlimited one) serves no payment.
    let unlimited = tx(WBTC, approveCall { spender: ROUTER, amount: U256::MAX }.abi_encode());
    assert!(matches!(
        p.check(&unlimited, 10, &mut l).unwrap_err(),
        Error::OverDailyLimit { token: WBTC, .. }
    ));
    assert_eq!(l.spent(WBTC, 10), U256::from(400_000_000u64), "an approval records nothing");
    // A swap through a route the policy does not name (a pair an attacker made).
    let mut evil = swapTokensForExactTokensCall::abi_decode(&swap(1, VAULT).input).unwrap();
    evil.path = vec![WBTC, THIEF];
    let e = p.check(&tx(ROUTER, evil.abi_encode()), 10, &mut l).unwrap_err();
    assert!(matches!(e, Error::PathNotAllowed { .. }), "{e}");
    // The dark pool: a deposit spends its amount; a request and a cancel spend only fees.
    let dep = depositCall { token: WBTC, amount: U256::from(100u64), exitKey: B256::ZERO };
    let spends = p.check(&tx(POOL, dep.abi_encode()), 10, &mut l).unwrap();
    assert_eq!(spends[1], Spend { token: WBTC, amount: U256::from(100u64) });
    let req = requestCollateralCall {
        orderCommitment: B256::ZERO,
        orderHash: B256::ZERO,
        encryptedOrder: Bytes::new(),
        premiumBps: U256::ZERO,
        timeout: 60,
    };
    assert_eq!(p.check(&tx(POOL, req.abi_encode()), 10, &mut l).unwrap().len(), 1);
    let cancel = cancelCall { requestId: U256::from(1u64) };
    assert_eq!(p.check(&tx(POOL, cancel.abi_encode()), 10, &mut l).unwrap().len(), 1);
    // Anything else at the pool (a withdrawal to wherever) is refused.
    let e = p.check(&tx(POOL, vec![0xde, 0xad, 0xbe, 0xef]), 10, &mut l).unwrap_err();
    assert!(matches!(e, Error::UnknownSelector { to: POOL, .. }), "{e}");
}

#[test]
fn a_compromised_host_cannot_drain_the_treasury() {
    let p = policy();
    let mut l = Ledger::default();
    let refused = |t: TxEip1559, l: &mut Ledger| p.check(&t, 5, l).unwrap_err();
    // Swap output to the attacker.
    assert!(
        matches!(refused(swap(1, THIEF), &mut l), Error::RecipientNotAllowed { to } if to == THIEF)
    );
    // An allowance for the attacker.
    assert!(matches!(refused(approve(WBTC, THIEF), &mut l), Error::SpenderNotAllowed { .. }));
    // A plain token transfer.
    let mut data = vec![0xa9, 0x05, 0x9c, 0xbb];
    data.extend_from_slice(&[0u8; 64]);
    assert!(matches!(refused(tx(WBTC, data), &mut l), Error::UnknownSelector { .. }));
    // Another router function, an unknown contract, a creation, another chain.
    assert!(matches!(
        refused(tx(ROUTER, vec![0x38, 0xed, 0x17, 0x39]), &mut l),
        Error::UnknownSelector { .. }
    ));
    assert!(matches!(refused(tx(THIEF, vec![1, 2, 3, 4]), &mut l), Error::UnknownTarget { .. }));
    let mut create = swap(1, VAULT);
    create.to = TxKind::Create;
    assert!(matches!(refused(create, &mut l), Error::Create));
    let mut other = swap(1, VAULT);
    other.chain_id = 1;
    assert!(matches!(refused(other, &mut l), Error::WrongChain { expected: 31_337, got: 1 }));
    // Native coin to the attacker, and gas money burnt through the fee.
    let mut pay = tx(THIEF, vec![]);
    pay.value = U256::from(1u64);
    assert!(matches!(refused(pay, &mut l), Error::RecipientNotAllowed { .. }));
    let mut burn = swap(1, VAULT);
    burn.max_fee_per_gas = 10u128.pow(16);
    assert!(
        matches!(refused(burn, &mut l), Error::OverDailyLimit { token, .. } if token == Address::ZERO)
    );
    // Truncated calldata names the function.
    let mut short = swap(1, VAULT);
    short.input = Bytes::from(short.input[..40].to_vec());
    assert!(matches!(refused(short, &mut l), Error::Decode { .. }));
    // Nothing refused was recorded.
    assert_eq!(l.spent(WBTC, 5), U256::ZERO);
    assert_eq!(l.spent(Address::ZERO, 5), U256::ZERO);
}

#[test]
fn the_daily_limit_rolls() {
    let p = policy();
    let mut l = Ledger::default();
    assert!(p.check(&swap(600_000_000, VAULT), 100, &mut l).is_ok());
    let e = p.check(&swap(500_000_000, VAULT), 200, &mut l).unwrap_err();
    assert!(e.to_string().contains("500000000"), "{e}");
    // A day after the first spend, it no longer counts.
    assert!(p.check(&swap(500_000_000, VAULT), 100 + DAY_SECS, &mut l).is_ok());
}

proptest! {
    /// Whatever the host asks, the spends admitted in any 24-hour window stay under the limit
    /// (against a naive reference over every admitted spend).
    #[test]
    fn admitted_spends_never_pass_the_limit(asks in prop::collection::vec((0u64..3 * DAY_SECS, 0u64..700_000_000), 1..40)) {
        let p = policy();
        let mut l = Ledger::default();
        let mut asks = asks;
        asks.sort_by_key(|a| a.0);
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        for (at, amount) in asks {
            if p.check(&swap(amount, VAULT), at, &mut l).is_ok() {
                admitted.push((at, amount));
            }
        }
        for &(end, _) in &admitted {
            let window: u64 = admitted.iter().filter(|(at, _)| *at <= end && end - at < DAY_SECS).map(|a| a.1).sum();
            prop_assert!(window <= 1_000_000_000, "window ending {end}: {window}");
        }
    }
}
