//! The load tool against a real broker started in this process, with small counts: every command
//! must run and report what it did. Figures are printed, never asserted.

use std::process::Command;

use serde_json::Value;

fn broker() -> (tempfile::TempDir, strikemq::RunningBroker) {
    let dir = tempfile::tempdir().unwrap();
    let running = strikemq::Broker::builder()
        .port(0)
        .http_enabled(false)
        .data_dir(dir.path())
        .start()
        .unwrap();
    (dir, running)
}

/// Runs the tool with `--json` and returns its report.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_strikemq-bench"))
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "strikemq-bench {args:?} failed:\n{stderr}"
    );
    eprintln!("{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn latency_counts_every_round_trip_for_each_acks() {
    let (_dir, b) = broker();
    let addr = b.kafka_addr().to_string();
    for acks in ["1", "-1", "0"] {
        let r = bench(&[
            "latency",
            "--bootstrap",
            &addr,
            "--acks",
            acks,
            "--count",
            "200",
            "--warmup",
            "20",
            "--rounds",
            "4",
            "--e2e",
            "50",
        ]);
        assert_eq!(r["produce"]["count"], 200, "{r}");
        assert_eq!(r["baseline"]["count"], 200, "{r}");
        assert_eq!(r["end_to_end"]["count"], 50, "{r}");
        assert!(r["produce"]["p50_us"].as_f64().unwrap() > 0.0);
        assert!(r["ratio_p50"].as_f64().is_some());
    }
    b.shutdown().unwrap();
}

#[test]
fn produce_and_consume_move_every_record() {
    let (_dir, b) = broker();
    let addr = b.kafka_addr().to_string();
    let r = bench(&[
        "produce",
        "--bootstrap",
        &addr,
        "--seconds",
        "0.3",
        "--connections",
        "2",
        "--partitions",
        "3",
        "--size",
        "100",
        "--batch",
        "10",
        "--compression",
        "lz4",
    ]);
    let messages = r["broker"]["messages"].as_u64().unwrap();
    assert!(messages > 0 && messages.is_multiple_of(10), "{r}");
    assert!(r["baseline"]["mb_per_s"].as_f64().unwrap() > 0.0, "{r}");
    // The broker runs in this process, so its CPU time is visible.
    assert!(r["broker_cpu_s_per_gb"].as_f64().is_some(), "{r}");

    // consume checks itself that it read back exactly what it wrote.
    let r = bench(&[
        "consume",
        "--bootstrap",
        &addr,
        "--messages",
        "3000",
        "--partitions",
        "3",
        "--connections",
        "2",
        "--size",
        "200",
        "--batch",
        "10",
        "--compression",
        "zstd",
    ]);
    assert_eq!(r["broker"]["messages"], 3000, "{r}");
    b.shutdown().unwrap();
}

#[test]
fn idle_reports_rss_per_partition_of_an_attached_broker() {
    let (_dir, b) = broker();
    let addr = b.kafka_addr().to_string();
    let r = bench(&[
        "idle",
        "--bootstrap",
        &addr,
        "--seconds",
        "0.2",
        "--partitions",
        "10,30",
    ]);
    assert_eq!(r["pid"], std::process::id(), "{r}");
    assert_eq!(r["partitions"][1]["partitions"], 30, "{r}");
    assert!(r["idle_rss_kib"].as_u64().unwrap() > 0, "{r}");
    assert!(
        r["idle_cpu_ticks_with_partitions"].as_u64().is_some(),
        "{r}"
    );
    b.shutdown().unwrap();
}

#[test]
fn baseline_alone_and_a_missing_broker_is_a_clear_error() {
    let r = bench(&["baseline", "--count", "200", "--seconds", "0.2"]);
    assert!(r["round_trip"]["p50_us"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["bandwidth_mb_per_s"].as_f64().unwrap() > 0.0, "{r}");

    let out = Command::new(env!("CARGO_BIN_EXE_strikemq-bench"))
        .args(["latency", "--bootstrap", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connecting to 127.0.0.1:1"), "{stderr}");
}
