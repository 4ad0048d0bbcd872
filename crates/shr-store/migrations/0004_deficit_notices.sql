-- Deficit notices the DON's nodes seal to the agent: one row per distinct ciphertext, never
-- overwritten (a writer can add a row but cannot replace a node's notice); the agent opens
-- every row of an observation and acts on f+1 signed by distinct DON nodes.
CREATE TABLE IF NOT EXISTS deficit_notices (
    observed_at BIGINT NOT NULL,
    sealed BYTEA NOT NULL,
    PRIMARY KEY (observed_at, sealed)
);

-- The single-row table it replaces (unsigned notices, last writer wins).
DROP TABLE IF EXISTS sealed_deficits;
