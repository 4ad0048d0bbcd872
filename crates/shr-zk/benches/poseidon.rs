//! Native Poseidon (circom's parameters, bn254): the optimised partial rounds this crate hashes
//! with, against the arkworks sponge (every round dense) and `light-poseidon` (the hash the
//! project used before), for 2 inputs (a tree node) and 4 (a leaf). `cargo bench -p shr-zk
//! --bench poseidon`.

#![allow(missing_docs)]

use ark_bn254::Fr;
use criterion::{Criterion, criterion_group, criterion_main};
use light_poseidon::{Poseidon, PoseidonHasher};

fn bench(c: &mut Criterion) {
    for n in [2usize, 4] {
        let xs: Vec<Fr> = (0..n).map(|i| Fr::from(u64::MAX - 7 * i as u64)).collect();
        c.bench_function(&format!("poseidon/{n} inputs/optimised"), |b| {
            b.iter(|| shr_zk::hash(std::hint::black_box(&xs)).unwrap())
        });
        c.bench_function(&format!("poseidon/{n} inputs/arkworks sponge"), |b| {
            b.iter(|| shr_zk::hash_sponge(std::hint::black_box(&xs)).unwrap())
        });
        let mut lp = Poseidon::<Fr>::new_circom(n).unwrap();
        c.bench_function(&format!("poseidon/{n} inputs/light-poseidon"), |b| {
            b.iter(|| lp.hash(std::hint::black_box(&xs)).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
