//! The store's suite on both backends: a SQLite file and PostgreSQL (`SHR_TEST_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`, each run in a fresh schema).

use shr_store::{IncidentRow, RebalancePlanRow, RunRow, Store};
use sqlx::Connection;

async fn suite(url: &str) {
    let s = Store::open(url).await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
    assert_eq!(s.cursor("agent").await.unwrap(), None);
    s.set_cursor("agent", 7).await.unwrap();
    s.set_cursor("agent", 9).await.unwrap();
    assert_eq!(s.cursor("agent").await.unwrap(), Some(9));
    let mut row = IncidentRow {
        id: "0xabc:1".into(),
        observed_at: 1_728_000_000,
        status: "detected".into(),
        sealed_state: vec![0, 1, 2, 255],
        updated_at: 1_728_000_001,
    };
    s.put_incident(&row).await.unwrap();
    row.status = "decided".into();
    s.put_incident(&row).await.unwrap();
    assert_eq!(s.incident("0xabc:1").await.unwrap(), Some(row.clone()));
    assert_eq!(s.incidents().await.unwrap(), vec![row]);
    s.put_sealed_deficit(5, &[9, 9]).await.unwrap();
    s.put_sealed_deficit(5, &[8]).await.unwrap();
    s.put_sealed_deficit(5, &[8]).await.unwrap();
    let mut notices = s.sealed_deficits(5).await.unwrap();
    notices.sort();
    assert_eq!(notices, vec![vec![8], vec![9, 9]], "append-only: none replaced, none doubled");
    assert!(s.sealed_deficits(6).await.unwrap().is_empty());
    s.put_sealed("fill", "1:0xab", &[7]).await.unwrap();
    assert_eq!(s.sealed("fill", "1:0xab").await.unwrap(), Some(vec![7]));
    assert_eq!(s.sealed("order", "1:0xab").await.unwrap(), None);
    let mut run = RunRow {
        id: "small-deficit-1".into(),
        scenario: "small-deficit".into(),
        status: "running".into(),
        started_at: 1_000,
        finished_at: 0,
        public_json: "{\"steps\":[]}".into(),
        sealed_private: vec![1, 2, 3],
    };
    s.put_run(&run).await.unwrap();
    run.status = "passed".into();
    run.finished_at = 2_000;
    s.put_run(&run).await.unwrap();
    let later = RunRow { id: "small-deficit-2".into(), started_at: 3_000, ..run.clone() };
    s.put_run(&later).await.unwrap();
    assert_eq!(s.latest_run("small-deficit").await.unwrap(), Some(later.clone()));
    assert_eq!(s.latest_run("large-deficit").await.unwrap(), None);
    assert_eq!(s.runs(10).await.unwrap(), vec![later, run]);
    let plan = RebalancePlanRow {
        id: "sim-1-VAULT-B-WEETH-BETH".into(),
        vault_id: "VAULT-B-WEETH-BETH".into(),
        simulation_id: "sim-1".into(),
        status: "planned".into(),
        planned_at: 9_000,
        updated_at: 9_000,
        event_json: r#"{"status":"planned"}"#.into(),
    };
    s.put_rebalance_plan(&plan).await.unwrap();
    // A second write of the same id does not replace the first.
    s.put_rebalance_plan(&RebalancePlanRow { status: "executed".into(), ..plan.clone() })
        .await
        .unwrap();
    assert_eq!(s.rebalance_plans(100).await.unwrap(), vec![plan.clone()]);
    // Executed once: the transition from `planned` happens once.
    let done = r#"{"status":"executed"}"#;
    assert!(s.update_rebalance_plan(&plan.id, "planned", "executed", 9_500, done).await.unwrap());
    assert!(!s.update_rebalance_plan(&plan.id, "planned", "executed", 9_600, done).await.unwrap());
    assert!(!s.update_rebalance_plan("nope", "planned", "executed", 9_600, done).await.unwrap());
    let rows = s.rebalance_plans(100).await.unwrap();
    assert_eq!(
        (rows[0].status.as_str(), rows[0].updated_at, rows[0].event_json.as_str()),
        ("executed", 9_500, done)
    );
    let other = RebalancePlanRow {
        id: "sim-2-VAULT-A-WSTETH-BUSDC".into(),
        planned_at: 9_700,
        ..plan.clone()
    };
    s.put_rebalance_plan(&other).await.unwrap();
    assert_eq!(s.rebalance_plans(1).await.unwrap()[0].id, other.id, "the newest within the limit");
    // A new process abandons what an earlier one left planned; executed events stay.
    assert_eq!(s.abandon_planned_rebalances(9_800).await.unwrap(), 1);
    let rows = s.rebalance_plans(100).await.unwrap();
    let st: Vec<_> = rows.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(st, ["executed", "abandoned"]);
    // Reopening (a restarted process) runs the migrations again harmlessly and keeps the data.
    let again = Store::open(url).await.unwrap();
    assert_eq!(again.cursor("agent").await.unwrap(), Some(9));
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    suite(&format!("sqlite:{}", dir.path().join("shr.db").display())).await;
    assert!(Store::open("mysql://nope").await.is_err(), "other schemes are refused by name");
}

#[tokio::test]
async fn postgres() {
    let base = std::env::var("SHR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "shr_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} (scripts/test starts one): {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    suite(&url).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .unwrap();
}
