//! Key generation and signing among three in-process parties, routed by a naive in-memory
//! relay: the address is the same everywhere, any two parties sign an EIP-1559 transaction
//! whose signature recovers to it, and tampered or spoofed messages are caught and named.

use alloy::{
    consensus::{SignableTransaction, TxEip1559},
    primitives::{Bytes, TxKind, address},
};

use super::*;

/// Round-by-round relay: every envelope sent goes into every party's inbox (a party reads
/// what is addressed to it or broadcast).
fn keygen(t: u8, n: u8) -> Vec<KeyShare> {
    let sid = b"shr-signer-test-keygen";
    let (mut parties, mut sent): (Vec<_>, Vec<_>) =
        (1..=n).map(|i| Keygen::start(t, n, i, sid).unwrap()).unzip();
    let mut mail: Vec<Envelope> = sent.drain(..).flatten().collect();
    let mut next = Vec::new();
    for k in &mut parties {
        next.extend(k.round2(&mail).unwrap());
    }
    mail = next;
    let mut next = Vec::new();
    for k in &mut parties {
        next.extend(k.round3(&mail).unwrap());
    }
    parties.into_iter().map(|k| k.finish(&next).unwrap()).collect()
}

fn sign(
    shares: &[&KeyShare],
    hash: B256,
    tamper: impl Fn(&mut Vec<Envelope>),
) -> Result<Signature> {
    let ids: Vec<u8> = shares.iter().map(|s| s.party.party_index.as_u8()).collect();
    let mut ss = Vec::new();
    let mut mail = Vec::new();
    for s in shares {
        let (x, out) = Signing::start(s, &ids, b"sign-1", hash)?;
        ss.push(x);
        mail.extend(out);
    }
    tamper(&mut mail);
    let mut next = Vec::new();
    for x in &mut ss {
        next.extend(x.round2(&mail)?);
    }
    let mut last = Vec::new();
    for x in &mut ss {
        last.extend(x.round3(&next)?);
    }
    let mut sigs = Vec::new();
    for x in ss {
        sigs.push(x.finish(&last)?);
    }
    Ok(sigs[0])
}

fn eip1559() -> TxEip1559 {
    TxEip1559 {
        chain_id: 31_337,
        nonce: 0,
        gas_limit: 100_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(address!("0x00000000000000000000000000000000000000c1")),
        input: Bytes::new(),
        ..Default::default()
    }
}

#[test]
fn two_of_three_generate_one_address_and_any_two_sign_for_it() {
    let shares = keygen(2, 3);
    let addr = shares[0].address;
    assert!(shares.iter().all(|s| s.address == addr), "one address at every party");
    let tx = eip1559();
    let hash = tx.signature_hash();
    // Party 2 offline: 1 and 3 sign; then 1 and 2.
    for pair in [[0usize, 2], [0, 1]] {
        let sig = sign(&[&shares[pair[0]], &shares[pair[1]]], hash, |_| {}).unwrap();
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), addr);
        let signed = tx.clone().into_signed(sig);
        let again = signed.signature().recover_address_from_prehash(&signed.signature_hash());
        assert_eq!(
            again.unwrap(),
            addr,
            "the signed EIP-1559 transaction recovers to the treasury"
        );
    }
    // A share round-trips through the form it is sealed at rest in, and still signs.
    let json = serde_json::to_string(&shares[0]).unwrap();
    let back: KeyShare = serde_json::from_str(&json).unwrap();
    assert_eq!(back.address, addr);
    let sig = sign(&[&back, &shares[1]], hash, |_| {}).unwrap();
    assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), addr);
}

#[test]
fn tampered_and_spoofed_messages_are_caught_and_named() {
    let shares = keygen(2, 3);
    let hash = eip1559().signature_hash();
    // A message claiming to come from party 3 that party 1 sent.
    let e = sign(&[&shares[0], &shares[2]], hash, |m| {
        if let Some(x) = m.iter_mut().find(|x| x.from == 1) {
            x.from = 2;
        }
    })
    .unwrap_err();
    assert!(matches!(e, Error::Missing { from: 1, round: 1 } | Error::Spoofed { .. }), "{e}");
    // A payload that does not decode names its sender and round.
    let e = sign(&[&shares[0], &shares[2]], hash, |m| {
        if let Some(x) = m.iter_mut().find(|x| x.from == 3) {
            x.payload = Bytes::from_static(&[0xa0]);
        }
    })
    .unwrap_err();
    assert!(matches!(e, Error::Message { from: 3, round: 1, .. }), "{e}");
    // A message of party 3 replayed from another signing session is refused by the protocol.
    let (_, other) = Signing::start(&shares[2], &[1, 3], b"sign-other", hash).unwrap();
    let e = sign(&[&shares[0], &shares[2]], hash, |m| {
        m.retain(|x| x.from != 3);
        m.extend(other.clone());
    })
    .unwrap_err();
    assert!(matches!(e, Error::Abort { protocol: "signing", .. }), "{e}");
    assert!(e.to_string().contains("party"), "{e}");
}

#[test]
fn bad_parameters_and_outsiders_are_refused() {
    assert!(matches!(Keygen::start(1, 3, 1, b"s").unwrap_err(), Error::Parameters { t: 1, n: 3 }));
    assert!(matches!(Keygen::start(2, 3, 4, b"s").unwrap_err(), Error::Party { party: 4 }));
    let shares = keygen(2, 3);
    let e = Signing::start(&shares[1], &[1, 3], b"s", B256::ZERO).unwrap_err();
    assert!(matches!(e, Error::Party { party: 2 }), "{e}");
}

fn refresh(shares: Vec<KeyShare>, sid: &[u8]) -> Vec<KeyShare> {
    let (mut rs, sent): (Vec<_>, Vec<_>) =
        shares.into_iter().map(|s| Refresh::start(s, sid).unwrap()).unzip();
    let mail: Vec<Envelope> = sent.into_iter().flatten().collect();
    let mut next = Vec::new();
    for r in &mut rs {
        next.extend(r.round2(&mail).unwrap());
    }
    let mut last = Vec::new();
    for r in &mut rs {
        last.extend(r.round3(&next).unwrap());
    }
    rs.into_iter().map(|r| r.finish(&last).unwrap()).collect()
}

#[test]
fn a_refresh_keeps_the_address_and_an_old_share_stops_signing_with_new_ones() {
    let old = keygen(2, 3);
    let addr = old[0].address;
    let new = refresh(old.clone(), b"refresh-1");
    assert!(new.iter().all(|s| s.address == addr), "the refresh keeps the treasury address");
    let hash = eip1559().signature_hash();
    let sig = sign(&[&new[0], &new[2]], hash, |_| {}).unwrap();
    assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), addr);
    // The points moved: a share from before no longer completes a signature with one after.
    assert_ne!(
        serde_json::to_string(&old[0].party).unwrap(),
        serde_json::to_string(&new[0].party).unwrap()
    );
    assert!(sign(&[&old[0], &new[2]], hash, |_| {}).is_err(), "old share 1 with new share 3");
    assert!(sign(&[&new[0], &old[1]], hash, |_| {}).is_err(), "new share 1 with old share 2");
}
