-- Public columns in plain text; anything private (deficits, plans) only as a sealed blob.
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY NOT NULL,
    next_block INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY NOT NULL,
    observed_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    sealed_state BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS sealed_deficits (
    observed_at INTEGER PRIMARY KEY NOT NULL,
    sealed BLOB NOT NULL
);
