//! The Flink SQL aggregation on the real Apache Flink engine (PyFlink 1.20 from PyPI,
//! the version of the FLINK-1_20 runtime, installed by `scripts/pyflink`): the lab's
//! SQL file runs through the application's own main.py over a bounded, generated set
//! of sensor readings, its Kinesis source and Firehose sink swapped for local files,
//! and every sensor's per-minute average, minimum and maximum equal what this test
//! computes itself.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A small deterministic generator (xorshift64*), independent of labctl's own.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi), rounded to 2 decimals like the lab's producer.
    fn reading(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo + u * (hi - lo)) * 100.0).round() / 100.0
    }
}

#[derive(Debug, Default)]
struct Agg {
    temps: Vec<f64>,
    hums: Vec<f64>,
}

fn pyflink_python(root: &Path) -> String {
    let out = Command::new(root.join("scripts/pyflink"))
        .arg("python")
        .output()
        .expect("running scripts/pyflink");
    assert!(
        out.status.success(),
        "scripts/pyflink could not install PyFlink: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn flink_sql_computes_per_sensor_per_minute_aggregates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = pyflink_python(root);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    let output = dir.path().join("out");
    std::fs::create_dir_all(&input).expect("input dir");

    // 900 readings, one every 0.3 s from 10:00:00 (4.5 minutes), in time order, with
    // both timestamp forms producers write (labctl's `...Z` and Python's isoformat).
    let mut g = Gen(0x5EED_1234_ABCD_0042);
    let mut lines = Vec::new();
    let mut expected: BTreeMap<(String, u64), Agg> = BTreeMap::new();
    for i in 0..900u64 {
        let ms = i * 300;
        let sensor = format!("sensor-{:03}", 1 + g.next() % 5);
        let temperature = g.reading(10.0, 40.0);
        let humidity = g.reading(30.0, 90.0);
        let pressure = g.reading(980.0, 1030.0);
        let (m, s, frac) = (ms / 60_000, (ms / 1000) % 60, ms % 1000);
        let ts = if i % 2 == 0 {
            format!("2026-01-01T10:{m:02}:{s:02}.{frac:03}Z")
        } else {
            format!("2026-01-01T10:{m:02}:{s:02}.{frac:03}000")
        };
        lines.push(
            serde_json::json!({"sensor_id": sensor, "timestamp": ts, "temperature": temperature, "humidity": humidity, "pressure": pressure})
                .to_string(),
        );
        let a = expected.entry((sensor, m)).or_default();
        a.temps.push(temperature);
        a.hums.push(humidity);
    }
    std::fs::write(input.join("readings.json"), lines.join("\n") + "\n").expect("readings");

    let run = Command::new(&python)
        .arg(root.join("flink/run_local.py"))
        .arg(root.join("sql/aggregate.flink.sql"))
        .arg(&input)
        .arg(&output)
        .output()
        .expect("running PyFlink");
    assert!(
        run.status.success(),
        "PyFlink failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // Every committed output file (Flink leaves in-progress files hidden with a dot).
    let mut rows: Vec<serde_json::Value> = Vec::new();
    let mut stack = vec![output.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("output dir") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if !name.starts_with('.') {
                let text = std::fs::read_to_string(&p).expect("output file");
                rows.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON row")),
                );
            }
        }
    }
    assert_eq!(
        rows.len(),
        expected.len(),
        "one row per sensor and minute: {rows:?}"
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for ((sensor, minute), agg) in &expected {
        let start = format!("2026-01-01 10:{minute:02}:00");
        let end = if *minute == 59 {
            "2026-01-01 11:00:00".to_string()
        } else {
            format!("2026-01-01 10:{:02}:00", minute + 1)
        };
        let row = rows
            .iter()
            .find(|r| r["sensor_id"] == sensor.as_str() && r["window_start_time"] == start.as_str())
            .unwrap_or_else(|| panic!("no row for {sensor} at {start}: {rows:?}"));
        assert_eq!(row["window_end_time"], end.as_str());
        let n = agg.temps.len() as f64;
        let avg_t = agg.temps.iter().sum::<f64>() / n;
        let min_t = agg.temps.iter().cloned().fold(f64::INFINITY, f64::min);
        let max_t = agg.temps.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let avg_h = agg.hums.iter().sum::<f64>() / n;
        let got = |k: &str| {
            row[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} missing in {row}"))
        };
        assert!(
            close(got("avg_temperature"), avg_t),
            "{sensor} {start}: avg {} vs {avg_t}",
            got("avg_temperature")
        );
        assert_eq!(got("min_temperature"), min_t, "{sensor} {start}");
        assert_eq!(got("max_temperature"), max_t, "{sensor} {start}");
        assert!(
            close(got("avg_humidity"), avg_h),
            "{sensor} {start}: humidity {} vs {avg_h}",
            got("avg_humidity")
        );
    }
}
