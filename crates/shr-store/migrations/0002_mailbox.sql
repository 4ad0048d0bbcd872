-- Sealed hand-offs between processes (orders to the matcher, fill notices to makers and the
-- requester): HPKE ciphertexts only, keyed by public identifiers.
CREATE TABLE IF NOT EXISTS sealed_messages (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (kind, key)
);
