//! A short, not coverage-guided, run of every target: its seeds mutated (bytes flipped,
//! inserted, removed, the input cut short or spliced with another seed).

use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use shr_fuzz::{TARGETS, seeds::seeds};

#[derive(Debug, Clone)]
enum Op {
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    Splice(usize, usize),
}

fn apply(mut d: Vec<u8>, ops: &[Op], all: &[Vec<u8>]) -> Vec<u8> {
    for op in ops {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *op {
            Op::Flip(i, b) if !d.is_empty() => {
                let i = at(i, d.len());
                d[i] ^= b;
            }
            Op::Insert(i, b) => {
                let i = at(i, d.len() + 1);
                d.insert(i, b);
            }
            Op::Remove(i) if !d.is_empty() => {
                d.remove(at(i, d.len()));
            }
            Op::Truncate(n) => d.truncate(at(n, d.len() + 1)),
            Op::Splice(other, i) => {
                let o = &all[at(other, all.len())];
                let i = at(i, d.len() + 1);
                d.truncate(i);
                d.extend_from_slice(&o[at(i, o.len() + 1).min(o.len())..]);
            }
            _ => {}
        }
    }
    d
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..).prop_map(|(i, b)| Op::Flip(i, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Op::Insert(i, b)),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(o, i)| Op::Splice(o, i)),
    ]
}

#[test]
fn mutated_seeds_pass_every_target() {
    let cases = std::env::var("SHR_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    for t in TARGETS {
        let all = seeds(t.name);
        let mut runner =
            TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        let n = all.len();
        runner
            .run(&(0..n, proptest::collection::vec(op(), 1..8)), |(i, ops)| {
                let input = apply(all[i].clone(), &ops, &all);
                (t.run)(&input);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
    }
}
