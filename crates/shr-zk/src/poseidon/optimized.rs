//! The native Poseidon permutation with the Poseidon paper's optimised partial rounds
//! (Grassi et al., "Poseidon", ePrint 2019/458, appendix B; the form circomlib's `PoseidonEx`
//! and neptune use), derived once per width from the same round constants and MDS matrix as
//! the arkworks gadget. The output is the same permutation, bit for bit (tested against
//! `light-poseidon` and the arkworks sponge).
//!
//! Two identities do the work. (1) In a partial round only `state[0]` goes through the S-box,
//! so the constants of the other elements commute with it and are carried through the MDS
//! into the next round's constants: a partial round adds one constant. (2) Write the MDS
//! matrix `M = [[m00, r], [c, M^]]` as `A * B` with `A = diag(1, M^)` and
//! `B = [[m00, r], [M^-1 c, I]]`: `A` leaves `state[0]` alone, so it commutes with the next
//! partial round's S-box and merges into the next matrix. Partial round `k` (from 1) then
//! multiplies by the sparse `B_k = [[m00, r M^(k-1)], [M^-k c, I]]` (2t - 1 multiplications
//! instead of t^2) and one dense `M^P` on the last `t - 1` elements closes the partial rounds.
//! For circom's width 5: about 1,060 field multiplications instead of 2,100.

use ark_bn254::Fr;
use ark_ff::{Field, Zero};

/// Widest state supported (circom's `Poseidon(5)`).
pub(super) const MAX_T: usize = 6;

/// One width's precomputed constants.
#[derive(Debug, Clone)]
pub(super) struct Optimized {
    t: usize,
    /// Constants of the first half's full rounds, `t` each.
    first: Vec<Vec<Fr>>,
    /// The one constant of each partial round (on `state[0]`).
    partial: Vec<Fr>,
    /// `B_k`'s first row (`t` entries: `m00`, then `r M^(k-1)`).
    rows: Vec<Vec<Fr>>,
    /// `B_k`'s first column below the diagonal (`t - 1` entries: `M^-k c`).
    cols: Vec<Vec<Fr>>,
    /// `M^P`, applied to `state[1..]` after the last partial round.
    closing: Vec<Vec<Fr>>,
    /// Constants of the second half's full rounds (the first carrying the partial rounds'
    /// folded constants).
    second: Vec<Vec<Fr>>,
    mds: Vec<Vec<Fr>>,
}

impl Optimized {
    /// From arkworks-layout parameters: `ark[round][i]` (full rounds `full / 2`, then
    /// `partial`, then `full / 2`), `mds[i][j]` with `new[i] = sum_j mds[i][j] * old[j]`.
    /// `None` when `M^` is singular (never for an MDS matrix) or the shapes disagree.
    pub(super) fn new(
        full: usize,
        partial: usize,
        ark: &[Vec<Fr>],
        mds: &[Vec<Fr>],
    ) -> Option<Self> {
        let t = mds.len();
        if !(2..=MAX_T).contains(&t)
            || ark.len() != full + partial
            || ark.iter().any(|r| r.len() != t)
        {
            return None;
        }
        let half = full / 2;
        let hat: Vec<Vec<Fr>> = mds[1..].iter().map(|r| r[1..].to_vec()).collect();
        let hat_inv = invert(&hat)?;
        let m_col: Vec<Fr> = mds[1..].iter().map(|r| r[0]).collect();

        // (1) Fold the partial rounds' constants of state[1..] forward.
        let mut partial_c = Vec::with_capacity(partial);
        let mut carry = vec![Fr::zero(); t];
        for round in &ark[half..half + partial] {
            let c: Vec<Fr> = round.iter().zip(&carry).map(|(a, b)| *a + b).collect();
            partial_c.push(c[0]);
            let mut w = c;
            w[0] = Fr::zero();
            carry = mat_vec(mds, &w);
        }
        let mut second: Vec<Vec<Fr>> = ark[half + partial..].to_vec();
        if let Some(first_of_second) = second.first_mut() {
            for (a, b) in first_of_second.iter_mut().zip(&carry) {
                *a += b;
            }
        } else {
            return None;
        }

        // (2) The sparse factors.
        let (mut rows, mut cols) = (Vec::with_capacity(partial), Vec::with_capacity(partial));
        let mut row: Vec<Fr> = mds[0][1..].to_vec(); // r M^(k-1), k = 1
        let mut col = mat_vec(&hat_inv, &m_col); // M^-k c, k = 1
        let mut power = identity(t - 1); // M^k
        for _ in 0..partial {
            let mut first_row = Vec::with_capacity(t);
            first_row.push(mds[0][0]);
            first_row.extend_from_slice(&row);
            rows.push(first_row);
            cols.push(col.clone());
            power = mat_mul(&hat, &power);
            row = vec_mat(&row, &hat);
            col = mat_vec(&hat_inv, &col);
        }
        Some(Self {
            t,
            first: ark[..half].to_vec(),
            partial: partial_c,
            rows,
            cols,
            closing: power,
            second,
            mds: mds.to_vec(),
        })
    }

    /// The permutation of `state` (length `t`).
    pub(super) fn permute(&self, state: &mut [Fr]) {
        debug_assert_eq!(state.len(), self.t);
        let mut buf = [Fr::zero(); MAX_T];
        let scratch = &mut buf[..self.t];
        for c in &self.first {
            self.full_round(state, c, scratch);
        }
        for ((c, row), col) in self.partial.iter().zip(&self.rows).zip(&self.cols) {
            state[0] = sbox(state[0] + c);
            let x0 = state[0];
            let mut y0 = row[0] * x0;
            for (r, x) in row[1..].iter().zip(&state[1..]) {
                y0 += *r * x;
            }
            for (x, w) in state[1..].iter_mut().zip(col) {
                *x += *w * x0;
            }
            state[0] = y0;
        }
        for (i, row) in self.closing.iter().enumerate() {
            scratch[i] = dot(row, &state[1..]);
        }
        state[1..].copy_from_slice(&scratch[..self.t - 1]);
        for c in &self.second {
            self.full_round(state, c, scratch);
        }
    }

    fn full_round(&self, state: &mut [Fr], c: &[Fr], scratch: &mut [Fr]) {
        for (x, k) in state.iter_mut().zip(c) {
            *x = sbox(*x + k);
        }
        for (s, row) in scratch.iter_mut().zip(&self.mds) {
            *s = dot(row, state);
        }
        state.copy_from_slice(scratch);
    }
}

fn sbox(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

fn dot(a: &[Fr], b: &[Fr]) -> Fr {
    a.iter().zip(b).fold(Fr::zero(), |acc, (x, y)| acc + *x * y)
}

fn mat_vec(m: &[Vec<Fr>], v: &[Fr]) -> Vec<Fr> {
    m.iter().map(|r| dot(r, v)).collect()
}

fn vec_mat(v: &[Fr], m: &[Vec<Fr>]) -> Vec<Fr> {
    (0..m.len()).map(|j| v.iter().zip(m).fold(Fr::zero(), |a, (x, r)| a + *x * r[j])).collect()
}

fn mat_mul(a: &[Vec<Fr>], b: &[Vec<Fr>]) -> Vec<Vec<Fr>> {
    a.iter().map(|r| vec_mat(r, b)).collect()
}

fn identity(n: usize) -> Vec<Vec<Fr>> {
    (0..n).map(|i| (0..n).map(|j| if i == j { Fr::ONE } else { Fr::zero() }).collect()).collect()
}

/// Gauss-Jordan inverse over the field; `None` when singular.
fn invert(m: &[Vec<Fr>]) -> Option<Vec<Vec<Fr>>> {
    let n = m.len();
    let mut a: Vec<Vec<Fr>> = m.to_vec();
    let mut inv = identity(n);
    for col in 0..n {
        let pivot = (col..n).find(|&r| !a[r][col].is_zero())?;
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col].inverse()?;
        for j in 0..n {
            a[col][j] *= p;
            inv[col][j] *= p;
        }
        for r in 0..n {
            if r != col && !a[r][col].is_zero() {
                let f = a[r][col];
                for j in 0..n {
                    let (x, y) = (a[col][j], inv[col][j]);
                    a[r][j] -= f * x;
                    inv[r][j] -= f * y;
                }
            }
        }
    }
    Some(inv)
}
