//! Errors of the attestation workflow.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading reserves, evaluating them, reaching consensus or transmitting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An amount that is not a non-negative decimal fitting 256 bits.
    #[error("field {field:?}: invalid amount {value:?} ({why})")]
    InvalidAmount {
        /// The field or column.
        field: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A series row's time in another format than the file's first row.
    #[error(
        "field {field:?}: time {value:?} is not {expected} (the format of the file's first row)"
    )]
    WrongTimeFormat {
        /// The row and column.
        field: String,
        /// The value as given.
        value: String,
        /// The file's format.
        expected: crate::TimeFormat,
    },
    /// A time in no known format.
    #[error(
        "field {field:?}: invalid time {value:?} (expected RFC 3339, a date YYYY-MM-DD, unix seconds or milliseconds)"
    )]
    InvalidTime {
        /// The field or column.
        field: String,
        /// The value as given.
        value: String,
    },
    /// A required field is missing from a custodian response.
    #[error("custodian response has no {what} field (looked for {looked_for:?})")]
    MissingField {
        /// Which datum.
        what: &'static str,
        /// The field names tried.
        looked_for: Vec<String>,
    },
    /// A field of the wrong JSON type.
    #[error("field {field:?}: expected {expected}, found {found}")]
    WrongType {
        /// The field.
        field: String,
        /// The expected JSON type.
        expected: &'static str,
        /// The value found.
        found: String,
    },
    /// A feeds file that is not TOML of `[[feed]]` tables.
    #[error("feeds file")]
    Feeds(#[source] toml::de::Error),
    /// A body that is not JSON.
    #[error("custodian response is not JSON")]
    Json(#[source] serde_json::Error),
    /// A reserve series that cannot be read.
    #[error("reserve series {path}: {why}")]
    Series {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A CSV row that cannot be read.
    #[error("reserve series row {row}")]
    Csv {
        /// 1-based data row.
        row: u64,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
    /// The custodian API failed.
    #[error("custodian API request {url} failed")]
    Custodian {
        /// The request URL.
        url: String,
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// A custodian body over the size a node accepts.
    #[error("custodian API {url} answered more than {max} bytes")]
    BodyTooLarge {
        /// The request URL.
        url: String,
        /// The limit, bytes.
        max: usize,
    },
    /// The custodian pulled the ripcord: a hard failure, never an attestation.
    #[error("custodian ripcord is set: reserves cannot be attested")]
    Ripcord,
    /// The reading is older than the staleness limit.
    #[error("reading observed at {observed_at} is stale at {now} (limit {max_staleness} s)")]
    Stale {
        /// Observation time, unix seconds.
        observed_at: u64,
        /// Evaluation time, unix seconds.
        now: u64,
        /// The limit, seconds.
        max_staleness: u64,
    },
    /// A reading from the future (beyond the allowed clock skew).
    #[error("reading observed at {observed_at} is in the future at {now}")]
    FromTheFuture {
        /// Observation time, unix seconds.
        observed_at: u64,
        /// Evaluation time, unix seconds.
        now: u64,
    },
    /// Liabilities of zero: a ratio is undefined.
    #[error("token supply (liabilities) is zero: the reserve ratio is undefined")]
    ZeroSupply,
    /// The enclave refused or failed.
    #[error("enclave")]
    Enclave(#[from] shr_enclave::Error),
    /// The mailbox shared with the recovery side could not be read or written.
    #[error("mailbox {what}")]
    Mailbox {
        /// Which operation.
        what: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Fewer than 2f+1 nodes agreed on an outcome.
    #[error("no consensus in round {round}: best outcome has {votes} of the {needed} votes needed")]
    NoConsensus {
        /// The round.
        round: u64,
        /// Votes for the most-voted outcome.
        votes: usize,
        /// 2f+1.
        needed: usize,
    },
    /// Fewer than f+1 valid report signatures.
    #[error("round {round}: {got} valid report signatures, {needed} needed")]
    NotEnoughSignatures {
        /// The round.
        round: u64,
        /// Valid signatures gathered.
        got: usize,
        /// f+1.
        needed: usize,
    },
    /// A node refused to sign a report that does not match its own observation.
    #[error("node {node} refused the report of round {round}: {why}")]
    ReportRefused {
        /// The refusing node.
        node: usize,
        /// The round.
        round: u64,
        /// Why.
        why: &'static str,
    },
    /// A round schedule that cannot be used.
    #[error("schedule `{expr}`: {why}")]
    Schedule {
        /// The expression as given.
        expr: String,
        /// Why it is refused.
        why: String,
    },
    /// A field mapping (`--por-field NAME=POINTER`) or profile that cannot be used.
    #[error("field mapping `{spec}`: {why}")]
    FieldSpec {
        /// The spec or profile name as given.
        spec: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A DON configuration that the forwarder would refuse.
    #[error("invalid DON configuration: {0}")]
    Config(String),
    /// A contract call failed.
    #[error("contract call")]
    Contract(#[source] Box<shr_contracts::Error>),
    /// Recovered collateral the enclave does not count (see `recovered`).
    #[error("recovery evidence at block {block} refused: {why}")]
    Recovery {
        /// The block the evidence names.
        block: u64,
        /// What does not hold.
        why: &'static str,
    },
    /// A chain call failed.
    #[error("chain")]
    Chain(#[from] shr_chain::Error),
}

impl From<shr_contracts::Error> for Error {
    fn from(e: shr_contracts::Error) -> Self {
        Self::Contract(Box::new(e))
    }
}

impl Error {
    /// The error as a log line may carry it: the custodian body's values (an amount or time
    /// that did not parse, a field of the wrong type) are left out, their field named instead.
    pub fn public_reason(&self) -> String {
        match self {
            Self::InvalidAmount { field, why, .. } => {
                format!("field {field:?}: invalid amount ({why})")
            }
            Self::InvalidTime { field, .. } => format!("field {field:?}: invalid time"),
            Self::WrongTimeFormat { field, expected, .. } => {
                format!("field {field:?}: time not {expected}")
            }
            Self::WrongType { field, expected, .. } => {
                format!("field {field:?}: expected {expected}")
            }
            other => other.to_string(),
        }
    }

    /// A short, stable name of the error's kind (a metrics label; never a value).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::InvalidTime { .. } | Self::WrongTimeFormat { .. } => "invalid_time",
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::Feeds(_) => "feeds_file",
            Self::Json(_) => "not_json",
            Self::Series { .. } | Self::Csv { .. } => "series",
            Self::Custodian { .. } => "custodian_unreachable",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::Ripcord => "ripcord",
            Self::Stale { .. } => "stale",
            Self::FromTheFuture { .. } => "from_the_future",
            Self::ZeroSupply => "zero_supply",
            Self::Enclave(_) => "enclave",
            Self::Mailbox { .. } => "mailbox",
            Self::NoConsensus { .. } => "no_consensus",
            Self::NotEnoughSignatures { .. } => "not_enough_signatures",
            Self::ReportRefused { .. } => "report_refused",
            Self::Schedule { .. } => "schedule",
            Self::FieldSpec { .. } => "field_spec",
            Self::Config(_) => "config",
            Self::Contract(_) => "contract",
            Self::Recovery { .. } => "recovery",
            Self::Chain(_) => "chain",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_reason_names_the_field_never_the_value() {
        let e = Error::InvalidAmount {
            field: "reserves".into(),
            value: "12,345.678".into(),
            why: "not a decimal",
        };
        assert!(e.to_string().contains("12,345.678"));
        let r = e.public_reason();
        assert!(r.contains("reserves") && !r.contains("12,345"), "{r}");
        let t = Error::WrongType {
            field: "/supply".into(),
            expected: "number or decimal string",
            found: "{\"v\":99182}".into(),
        };
        assert!(!t.public_reason().contains("99182"));
        assert_eq!(t.kind(), "wrong_type");
    }
}
