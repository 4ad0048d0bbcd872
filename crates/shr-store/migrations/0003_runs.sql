-- Scenario runs of the demo server: public steps as JSON text, the private half sealed (AEAD).
CREATE TABLE IF NOT EXISTS scenario_runs (
    id TEXT PRIMARY KEY NOT NULL,
    scenario TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    public_json TEXT NOT NULL,
    sealed_private BYTEA NOT NULL
);

-- Executed lending-vault rebalances. Every column is public on chain anyway (position, health
-- factors read back from LendingMarket, the transaction); health factors as wad decimal text.
CREATE TABLE IF NOT EXISTS rebalance_events (
    id TEXT PRIMARY KEY NOT NULL,
    vault_id TEXT NOT NULL,
    executed_at BIGINT NOT NULL,
    tx TEXT NOT NULL,
    gas BIGINT NOT NULL,
    hf_before_wad TEXT NOT NULL,
    hf_projected_wad TEXT NOT NULL,
    hf_onchain_after_wad TEXT NOT NULL
);
