//! Errors of contract interactions.

use crate::Revert;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong calling or deploying a contract.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call or transaction reverted; `revert` is decoded through the known ABIs.
    #[error("{function} reverted: {revert}")]
    Reverted {
        /// Solidity signature of the function (or `constructor`).
        function: &'static str,
        /// The decoded revert.
        revert: Revert,
        /// The chain's error, with the raw data and the transaction hash.
        #[source]
        source: shr_chain::Error,
    },
    /// Any other chain failure.
    #[error(transparent)]
    Chain(shr_chain::Error),
    /// Return data that does not decode as the function's outputs.
    #[error("return data of {function} does not decode")]
    Decode {
        /// Solidity signature of the function.
        function: &'static str,
        /// The ABI decoder's error.
        #[source]
        source: alloy::sol_types::Error,
    },
}

impl Error {
    /// Wraps a chain error, decoding a revert for `function`.
    pub fn from_chain(function: &'static str, source: shr_chain::Error) -> Self {
        match source.revert_data() {
            Some(data) => Self::Reverted { function, revert: Revert::decode(data), source },
            None => Self::Chain(source),
        }
    }

    /// The decoded revert, if this is one.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Reverted { revert, .. } => Some(revert),
            _ => None,
        }
    }
}
