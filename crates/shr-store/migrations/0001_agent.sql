-- Public columns in plain text; anything private (deficits, plans) only as a sealed blob.
-- Portable SQL: the same migrations run on SQLite and PostgreSQL (BIGINT, TEXT, BYTEA).
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY NOT NULL,
    next_block BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY NOT NULL,
    observed_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    sealed_state BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS sealed_deficits (
    observed_at BIGINT PRIMARY KEY NOT NULL,
    sealed BYTEA NOT NULL
);
