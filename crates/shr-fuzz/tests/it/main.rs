//! Every fuzz target over its seeds, the kept corpus and every crash ever found
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`), then a short mutation run from the
//! seeds (`SHR_FUZZ_CASES` inputs a target, 2,000 by default). The coverage-guided runs are
//! `scripts/fuzz`'s.

mod corpus;
mod mutation;
