//! `sealed_open`: opening HPKE-sealed messages ([`shr_enclave::Enclave::open`], the dark pool's
//! [`shr_darkpool::open_notice`] and [`shr_darkpool::open_exit_ticket`]).
//!
//! Input layout: byte 0 picks the mode. Even: the rest is a sealed blob as it arrives from the
//! network: it opens under the one context it was sealed for (a real message) or fails with a
//! named error.
//! Odd: the rest is a plaintext, sealed here to the enclave's key (a message from a real but
//! hostile sender); it opens to exactly those bytes, and the typed openers either parse it or
//! name the error.

use std::sync::OnceLock;

use alloy::primitives::B256;
use shr_darkpool::{EXIT_INFO, FILL_INFO, open_exit_ticket, open_notice};
use shr_enclave::{Enclave, Sealed, SimulatedTee, seal};

use crate::assert_named;

/// The recipient: an enclave on the simulated platform with a fixed seed (test keys).
pub fn enclave() -> &'static Enclave {
    static E: OnceLock<Enclave> = OnceLock::new();
    E.get_or_init(|| {
        let tee = SimulatedTee::from_seed(B256::repeat_byte(0xf2));
        Enclave::launch(&tee, "shr-fuzz/sealed-open").expect("launch the fuzz enclave")
    })
}

/// The harness.
pub fn run(data: &[u8]) {
    let [mode, rest @ ..] = data else { return };
    let key = enclave();
    if mode % 2 == 0 {
        let sealed = Sealed(rest.to_vec());
        let opened: Vec<bool> = [FILL_INFO, EXIT_INFO]
            .into_iter()
            .map(|info| key.open(info, &sealed).inspect_err(|e| assert_named(e)).is_ok())
            .collect();
        // A real blob (a seed) opens under its own context only.
        assert!(!(opened[0] && opened[1]), "a blob opened under two contexts");
        if let Err(e) = open_notice(key, &sealed) {
            assert_named(&e);
        }
    } else {
        let pk = &key.identity().hpke;
        let sealed = seal(pk, FILL_INFO, rest).expect("sealing any plaintext");
        assert_eq!(key.open(FILL_INFO, &sealed).expect("open what was sealed"), rest);
        // Another context does not open it.
        assert!(key.open(EXIT_INFO, &sealed).is_err(), "a blob opened under another context");
        if let Err(e) = open_notice(key, &sealed) {
            assert_named(&e);
        }
        let ticket = seal(pk, EXIT_INFO, rest).expect("sealing any plaintext");
        if let Err(e) = open_exit_ticket(key, &ticket) {
            assert_named(&e);
        }
    }
}
