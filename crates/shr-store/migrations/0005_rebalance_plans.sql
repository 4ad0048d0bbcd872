-- The vault desk's RebalanceEvents: the plan made at breach (encoded calls, gas estimate,
-- projected HF) and its execution once there is one, as public JSON (every figure is on chain
-- or derived from it). Supersedes rebalance_events (0003), which held executions only and is
-- no longer written.
CREATE TABLE IF NOT EXISTS rebalance_plans (
    id TEXT PRIMARY KEY NOT NULL,
    vault_id TEXT NOT NULL,
    simulation_id TEXT NOT NULL,
    status TEXT NOT NULL,
    planned_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rebalance_plans_vault ON rebalance_plans (vault_id, planned_at);
