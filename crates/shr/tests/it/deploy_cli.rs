//! `shr don init` x 4, `shr deploy` onto anvil, `shr status`, a rotation to a changed DON, and
//! identities that must not deploy.

use std::process::Command;

use serde_json::Value;
use shr_contracts::anvil::Anvil;

fn run(url: &str, args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shr"))
        .args(args)
        .args(["--rpc-url", url])
        .env("RUST_LOG", "error")
        .env_remove("SHR_TEE_SEED")
        .output()
        .expect("shr runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (out.status.success(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_don_of_node_directories_deploys_reports_its_status_and_rotates() {
    let anvil = Anvil::spawn().unwrap();
    let url = anvil.url();
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<String> =
        (0..5).map(|i| dir.path().join(format!("node{i}")).display().to_string()).collect();
    for d in &nodes {
        let (ok, _, err) = run(&url, &["don", "init", "--dir", d]);
        assert!(ok, "{err}");
    }
    let manifest = dir.path().join("deployment.json");
    let out = manifest.to_str().unwrap();
    let four = nodes[..4].join(",");
    let (ok, m, err) = run(&url, &["deploy", "--don", &four, "--out", out]);
    assert!(ok, "{err}");
    assert_eq!((m["chain_id"].as_u64(), m["config_version"].as_u64()), (Some(31337), Some(1)));
    assert_eq!(m["signers"].as_array().unwrap().len(), 4);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(on_disk, m);

    // Nothing attested yet: the receiver says insolvent and stale, with no reports.
    let status = ["status", "--deployment", out, "--json"];
    let (ok, s, err) = run(&url, &status);
    assert!(ok, "{err}");
    assert_eq!(
        (s["is_solvent"].clone(), s["fresh"].clone(), s["reports"].clone()),
        (false.into(), false.into(), 0.into())
    );

    // The deployed nodes attest a custodian body; the receiver holds the result, fresh.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let body = dir.path().join("por.json");
    let por =
        format!(r#"{{"totalReserve": "100.5", "totalToken": "100", "timestamp": {}}}"#, now - 60);
    std::fs::write(&body, por).unwrap();
    let attest = [
        "attest",
        "--deployment",
        out,
        "--don",
        &four,
        "--por-json",
        body.to_str().unwrap(),
        "--json",
    ];
    let (ok, a, err) = run(&url, &attest);
    assert!(ok, "{a} {err}");
    assert_eq!((a["is_solvent"].clone(), a["transmitted"].clone()), (true.into(), true.into()));
    let lower = |v: &Value| v.as_str().unwrap().to_lowercase();
    assert_eq!(lower(&a["receiver"]), lower(&m["receiver"]));
    let (ok, s, err) = run(&url, &status);
    assert!(ok, "{err}");
    assert_eq!(
        (s["is_solvent"].clone(), s["fresh"].clone(), s["reports"].clone()),
        (true.into(), true.into(), 1.into())
    );
    // Nodes out of the deployment's order are not its signers.
    let shuffled = format!("{},{},{},{}", nodes[1], nodes[0], nodes[2], nodes[3]);
    let attest = [
        "attest",
        "--deployment",
        out,
        "--don",
        &shuffled,
        "--por-json",
        body.to_str().unwrap(),
        "--json",
    ];
    let (ok, a, _) = run(&url, &attest);
    assert!(!ok && a["error"].as_str().unwrap().contains("not the deployment's signers"), "{a}");

    // The same DON again changes nothing; a fifth node rotates the config version on the same
    // forwarder and receiver.
    let (ok, same, err) = run(&url, &["deploy", "--don", &four, "--out", out]);
    assert!(ok, "{err}");
    assert_eq!(same, m);
    let (ok, r, err) = run(&url, &["deploy", "--don", &nodes.join(","), "--out", out]);
    assert!(ok, "{err}");
    assert_eq!(r["config_version"], 2);
    assert_eq!((&r["forwarder"], &r["receiver"]), (&m["forwarder"], &m["receiver"]));
    assert_eq!(r["signers"].as_array().unwrap().len(), 5);
    assert!(r.get("vault").is_none() && s["vault"].is_null(), "{r}");

    // The collateral's ReserveVault joins the deployment (deployed once; status reads it back).
    let wbtc = "0x000000000000000000000000000000000000bEEF";
    let with_vault = ["deploy", "--don", &nodes.join(","), "--out", out, "--collateral", wbtc];
    let (ok, v, err) = run(&url, &with_vault);
    assert!(ok, "{err}");
    assert_eq!((&v["config_version"], &v["receiver"]), (&r["config_version"], &r["receiver"]));
    assert_eq!(v["vault"]["asset"].as_str().map(str::to_lowercase), Some(wbtc.to_lowercase()));
    let (ok, again, err) = run(&url, &with_vault);
    assert!(ok, "{err}");
    assert_eq!(again["vault"], v["vault"], "not deployed twice");
    let (ok, s, err) = run(&url, &status);
    assert!(ok, "{err}");
    assert_eq!(lower(&s["vault"]["address"]), lower(&v["vault"]["address"]));
    assert_eq!(lower(&s["vault"]["asset"]), wbtc.to_lowercase());

    // A node whose identity was edited (another signer under the same quote) is refused by name,
    // as is one node twice and a DON too small for f.
    let forged = dir.path().join("forged");
    std::fs::create_dir_all(&forged).unwrap();
    let mut id: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("node0/identity.json")).unwrap())
            .unwrap();
    id["signer"] = "0x000000000000000000000000000000000000dEaD".into();
    std::fs::write(forged.join("identity.json"), id.to_string()).unwrap();
    let other = dir.path().join("other.json");
    let other = other.to_str().unwrap();
    let bad = format!("{},{}", forged.display(), nodes[1..4].join(","));
    let (ok, _, err) = run(&url, &["deploy", "--don", &bad, "--out", other]);
    assert!(!ok && err.contains("forged") && err.contains("does not verify"), "{err}");
    let twice = format!("{},{}", nodes[0], nodes[..3].join(","));
    let (ok, _, err) = run(&url, &["deploy", "--don", &twice, "--out", other]);
    assert!(!ok && err.contains("already another node"), "{err}");
    let (ok, _, err) = run(&url, &["deploy", "--don", &nodes[..3].join(","), "--out", other]);
    assert!(!ok && err.contains("n > 3f"), "{err}");
    assert!(!std::path::Path::new(other).exists(), "a refused deploy writes no manifest");
}
