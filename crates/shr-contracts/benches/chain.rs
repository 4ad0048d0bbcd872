//! Chain backends compared: an ERC-20 transfer round trip (send, mine, receipt) and a view call
//! (`balanceOf`), on the embedded revm chain and on a real anvil over HTTP, in the same run.

#![allow(missing_docs)]

use alloy::primitives::{Address, U256};
use criterion::{Criterion, criterion_group, criterion_main};
use shr_chain::{Chain, EmbeddedChain, RpcChain, RpcConfig};
use shr_contracts::{anvil::Anvil, bindings::TestToken, deploy, send, view};

async fn setup(chain: &dyn Chain) -> Address {
    let admin = chain.accounts()[0];
    let token =
        deploy::test_token(chain, admin, "Wrapped BTC", "WBTC", 8, admin).await.expect("deploy");
    send(chain, admin, token, &TestToken::mintCall { to: admin, amount: U256::from(u64::MAX) })
        .await
        .expect("mint");
    token
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, chain: &dyn Chain) {
    let token = rt.block_on(setup(chain));
    let [from, to] = [chain.accounts()[0], chain.accounts()[1]];
    let transfer = TestToken::transferCall { to, value: U256::from(1) };
    let balance = TestToken::balanceOfCall { account: to };
    let mut g = c.benchmark_group("chain");
    g.bench_function(format!("{name}/erc20_transfer_round_trip"), |b| {
        b.to_async(rt)
            .iter(|| async { send(chain, from, token, &transfer).await.expect("transfer") })
    });
    g.bench_function(format!("{name}/view_balance_of"), |b| {
        b.to_async(rt).iter(|| async { view(chain, token, &balance).await.expect("view") })
    });
    g.finish();
}

fn chain(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let embedded = EmbeddedChain::new();
    bench_backend(c, &rt, "embedded", &embedded);
    let anvil = Anvil::spawn().expect("anvil starts");
    let mut config = RpcConfig::new(anvil.url());
    config.poll_interval = Some(std::time::Duration::from_millis(5));
    let rpc = rt.block_on(RpcChain::connect(config)).expect("connect");
    bench_backend(c, &rt, "anvil", &rpc);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = chain
}
criterion_main!(benches);
