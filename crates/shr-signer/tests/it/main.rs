//! The signer parties as concurrent tasks on an in-process bus: key generation, signing by any
//! `t`, a party offline, below the threshold, a policy refusal, a tampered message, a refresh.

mod parties;
