//! What travels on the bus: party messages signed by the party's enclave key, point-to-point
//! protocol payloads sealed to the receiver's enclave (HPKE), and the agent's requests.
//!
//! Everything is CBOR. A party message is `{body, signature}` where `body` is a [`PartyMsg`] and the
//! signature is the enclave's secp256k1 signature over `keccak256("shr-signer/v1" ‖ body)`;
//! receivers check it against the [`Roster`] before they parse the body, so a message that
//! claims another party's index, or a flipped byte, is refused naming the party it claimed.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, Signature, keccak256};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use shr_enclave::{Enclave, EnclaveIdentity, HpkePublicKey, Sealed};

use crate::{
    Envelope, Error, Result,
    codec::{from_cbor, to_cbor},
};

/// The measured program every signer party runs (its enclave measurement).
pub const PROGRAM: &str = "shr-signer/party@0.1.0";

const DOMAIN: &[u8] = b"shr-signer/v1";

/// The largest distance between a request's `issued_at` and a party's clock, seconds.
pub const REQUEST_MAX_AGE: u64 = 60;

/// The oldest hello a run accepts, seconds.
pub const HELLO_MAX_AGE: u64 = 120;

/// A party's public keys, as its verified quote showed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Address of the party enclave's signing key (authenticates its messages).
    pub signer: Address,
    /// The party enclave's HPKE key (point-to-point payloads are sealed to it).
    pub hpke: HpkePublicKey,
}

/// The parties of a key, by 1-based index.
pub type Roster = BTreeMap<u8, Member>;

/// A message from a signer party.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Externally tagged: an internally tagged enum buffers its fields in a human-readable
// form, and fixed-size byte fields then expect hex where CBOR carries bytes.
#[serde(rename_all = "snake_case")]
pub enum PartyMsg {
    /// Presence at a key generation or refresh: who, with which keys, and a fresh nonce (the
    /// session id is the hash of every party's nonce).
    Hello {
        /// Party index, 1-based.
        party: u8,
        /// Fresh per run.
        nonce: B256,
        /// Unix seconds when the run started: a hello more than [`HELLO_MAX_AGE`] old is a
        /// replay of another run, and of two hellos of one party the later run wins.
        at: u64,
        /// The enclave's keys and quote.
        identity: EnclaveIdentity,
    },
    /// A protocol message of session `session` (payload sealed when point-to-point).
    Protocol {
        /// Session id.
        session: B256,
        /// The message.
        envelope: Envelope,
    },
    /// The party finished session `session` with this address.
    Confirm {
        /// Session id.
        session: B256,
        /// Party index.
        party: u8,
        /// The treasury address it holds a share of.
        address: Address,
    },
    /// The party's policy accepts request `request`; it listens for the signing session.
    Ready {
        /// Request id.
        request: B256,
        /// Party index.
        party: u8,
    },
    /// The party's policy refuses request `request`.
    Refused {
        /// Request id.
        request: B256,
        /// Party index.
        party: u8,
        /// The policy's reason (field and value).
        reason: String,
    },
    /// The signature of request `request`.
    Signed {
        /// Request id.
        request: B256,
        /// Party index.
        party: u8,
        /// The ECDSA signature (recovers to the treasury).
        signature: Signature,
    },
}

impl PartyMsg {
    /// The party index the message claims (for a hello: the one it announces).
    pub fn party(&self) -> u8 {
        match self {
            Self::Hello { party, .. }
            | Self::Confirm { party, .. }
            | Self::Ready { party, .. }
            | Self::Refused { party, .. }
            | Self::Signed { party, .. } => *party,
            Self::Protocol { envelope, .. } => envelope.from,
        }
    }
}

/// A signed party message as it travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wire {
    /// CBOR of the [`PartyMsg`].
    pub body: Bytes,
    /// The party enclave's signature over `keccak256("shr-signer/v1" ‖ body)`.
    pub signature: Signature,
}

fn digest(body: &[u8]) -> B256 {
    keccak256([DOMAIN, body].concat())
}

impl Wire {
    /// Signs `msg` with `enclave`'s key; the bytes to publish.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Enclave`].
    pub fn sign<T: Serialize>(enclave: &Enclave, msg: &T) -> Result<Vec<u8>> {
        let body = to_cbor(msg)?;
        let signature = enclave.sign_digest(&digest(&body)).map_err(Error::Enclave)?;
        to_cbor(&Self { body: body.into(), signature })
    }

    /// Parses `bytes` and returns the message with the address its signature recovers to
    /// (the caller compares it with the roster: [`Wire::verify`]).
    ///
    /// # Errors
    /// [`Error::Frame`] for bytes that are not a signed party message.
    pub fn open(bytes: &[u8]) -> Result<(PartyMsg, Address)> {
        Self::open_as(bytes)
    }

    /// [`Wire::open`] for any message type (the agent's [`AgentMsg`]).
    ///
    /// # Errors
    /// [`Error::Frame`]; [`Error::BadSignature`].
    pub fn open_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Address)> {
        let w: Self = from_cbor(bytes).map_err(Error::Frame)?;
        let signer = w
            .signature
            .recover_address_from_prehash(&digest(&w.body))
            .map_err(|_| Error::BadSignature { party: None })?;
        let msg: T = from_cbor(&w.body).map_err(Error::Frame)?;
        Ok((msg, signer))
    }

    /// [`Wire::open`], then checks the signer is the roster's key for the party the message
    /// claims.
    ///
    /// # Errors
    /// [`Error::Frame`]; [`Error::BadSignature`] naming the claimed party.
    pub fn verify(bytes: &[u8], roster: &Roster) -> Result<PartyMsg> {
        let (msg, signer) = Self::open(bytes)?;
        let party = msg.party();
        match roster.get(&party) {
            Some(m) if m.signer == signer => Ok(msg),
            _ => Err(Error::BadSignature { party: Some(party) }),
        }
    }
}

fn p2p_info(session: &B256, e: &Envelope) -> String {
    format!("shr-signer/p2p/{session}/{}/{}-{}", e.round, e.from, e.to.unwrap_or(0))
}

/// Adds `e` to `mail` unless the same message is there already: a replay of a genuine message
/// is ignored; two different authenticated messages of one party for one round stay, and the
/// round refuses them ([`Error::Duplicate`]: the party equivocated).
pub(crate) fn deliver(mail: &mut Vec<Envelope>, e: Envelope) {
    if !mail.contains(&e) {
        mail.push(e);
    }
}

/// Seals a point-to-point envelope's payload to its receiver (broadcasts pass as they are).
///
/// # Errors
/// [`Error::Party`] for a receiver not in `roster`; [`Error::Enclave`].
pub fn seal_p2p(session: &B256, mut e: Envelope, roster: &Roster) -> Result<Envelope> {
    if let Some(to) = e.to {
        let m = roster.get(&to).ok_or(Error::Party { party: to })?;
        e.payload = shr_enclave::seal(&m.hpke, &p2p_info(session, &e), &e.payload)
            .map_err(Error::Enclave)?
            .0
            .into();
    }
    Ok(e)
}

/// Opens a point-to-point envelope addressed to this enclave.
///
/// # Errors
/// [`Error::Sealed`] naming the sender when the payload was not sealed to this enclave for
/// this session, round and pair.
pub fn open_p2p(session: &B256, mut e: Envelope, enclave: &Enclave) -> Result<Envelope> {
    if e.to.is_some() {
        let info = p2p_info(session, &e);
        e.payload = enclave
            .open(&info, &Sealed(e.payload.to_vec()))
            .map_err(|source| Error::Sealed { from: e.from, source })?
            .into();
    }
    Ok(e)
}

/// What the agent sends the parties, signed ([`Wire`]) by the agent's enclave key; a party
/// answers only the agent keys its policy names.
#[derive(Debug, Clone, Serialize, Deserialize)]
// Externally tagged: an internally tagged enum buffers its fields in a human-readable
// form, and fixed-size byte fields then expect hex where CBOR carries bytes.
#[serde(rename_all = "snake_case")]
pub enum AgentMsg {
    /// Please sign this transaction.
    Request {
        /// Request id (fresh random; also the signing session id).
        request: B256,
        /// The EIP-1559 transaction as it is signed (`0x02 ‖ rlp(fields)`), sealed to each
        /// party's enclave ([`seal_request`]): a refused payment's amounts never cross the bus
        /// in the clear. Each party opens its own, checks its policy and signs `keccak256` of
        /// exactly those bytes.
        sealed: BTreeMap<u8, Bytes>,
        /// Why (free text for the parties' logs: the incident, the step).
        context: String,
        /// Unix seconds when the agent issued it: a party refuses one more than
        /// [`REQUEST_MAX_AGE`] away from its clock (a replay of captured traffic).
        issued_at: u64,
    },
    /// Run the signing session of `request` among `signers` (`t` parties that said ready).
    Start {
        /// Request id.
        request: B256,
        /// 1-based party indexes.
        signers: Vec<u8>,
    },
}

fn request_info(request: &B256, party: u8) -> String {
    format!("shr-signer/request/{request}/{party}")
}

/// The signing bytes of request `request` sealed to every party of `roster`.
///
/// # Errors
/// [`Error::Enclave`].
pub fn seal_request(
    request: &B256,
    unsigned: &[u8],
    roster: &Roster,
) -> Result<BTreeMap<u8, Bytes>> {
    roster
        .iter()
        .map(|(p, m)| {
            let s = shr_enclave::seal(&m.hpke, &request_info(request, *p), unsigned)
                .map_err(Error::Enclave)?;
            Ok((*p, s.0.into()))
        })
        .collect()
}

/// This party's copy of request `request`'s signing bytes.
///
/// # Errors
/// [`Error::Party`] when the request holds none for `party`; [`Error::Enclave`].
pub fn open_request(
    request: &B256,
    sealed: &BTreeMap<u8, Bytes>,
    party: u8,
    enclave: &Enclave,
) -> Result<Bytes> {
    let s = sealed.get(&party).ok_or(Error::Party { party })?;
    enclave
        .open(&request_info(request, party), &Sealed(s.to_vec()))
        .map(Into::into)
        .map_err(Error::Enclave)
}

/// Subjects of a signer group on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Subjects under `shr.signer.<group>`.
    ///
    /// # Errors
    /// [`Error::Group`] when `group` is empty or holds anything but `[A-Za-z0-9_-]`.
    pub fn new(group: &str) -> Result<Self> {
        if group.is_empty()
            || !group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::Group { group: group.to_string() });
        }
        Ok(Self { prefix: format!("shr.signer.{group}") })
    }

    /// Key generation and refresh messages.
    pub fn ceremony(&self) -> String {
        format!("{}.ceremony", self.prefix)
    }

    /// The agent's requests.
    pub fn requests(&self) -> String {
        format!("{}.request", self.prefix)
    }

    /// The parties' answers to request `id`.
    pub fn replies(&self, id: &B256) -> String {
        format!("{}.reply.{id}", self.prefix)
    }

    /// The signing session of request `id`.
    pub fn signing(&self, id: &B256) -> String {
        format!("{}.sign.{id}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use shr_enclave::{SimulatedTee, TeePlatform};

    use super::*;

    #[test]
    fn every_message_round_trips_signed() {
        let tee = SimulatedTee::from_seed(B256::repeat_byte(1));
        let e = Enclave::launch_sealed(&tee, PROGRAM).unwrap().0;
        let msgs = [
            PartyMsg::Hello {
                party: 1,
                nonce: B256::repeat_byte(2),
                at: 0,
                identity: e.identity().clone(),
            },
            PartyMsg::Protocol {
                session: B256::repeat_byte(3),
                envelope: Envelope {
                    from: 1,
                    to: Some(2),
                    round: 1,
                    payload: Bytes::from_static(b"x"),
                },
            },
            PartyMsg::Ready { request: B256::ZERO, party: 2 },
        ];
        for m in msgs {
            let bytes = Wire::sign(&e, &m).unwrap();
            let (back, signer) = Wire::open(&bytes).unwrap();
            assert_eq!(signer, e.identity().signer);
            assert_eq!(back.party(), m.party());
        }
        let _ = tee.root();
    }
}
