//! Every dashboard widget line and every alarm the shipped `pipeline.yaml` produces, on
//! both engines, names a metric, dimension set and statistic that AWS documents
//! (`resource::metrics::TABLE`, each entry citing its page). An undocumented line fails.

use labctl::resource::alarm::Alarm;
use labctl::resource::dashboard::Dashboard;
use labctl::resource::metrics::{self, TABLE};
use labctl::spec::vars::Vars;
use labctl::spec::{self, Engine, Spec};
use serde_json::Value;

fn lab_spec(engine: Engine) -> (Spec, Vars) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml");
    let loaded = spec::load(&file).expect("pipeline.yaml loads");
    let vars = Vars {
        account_id: "123456789012".into(),
        region: "eu-west-1".into(),
        partition: "aws".into(),
        pipeline: loaded.spec.pipeline.clone(),
    };
    let mut spec = loaded.spec.resolve(&vars);
    for a in spec.applications.values_mut() {
        a.engine = engine;
    }
    (spec, vars)
}

/// (namespace, name, dimension names, statistic) of one widget line; None for a
/// metric-math expression over other lines (`m/4`).
/// Namespace, name, dimension names, statistic.
type Used = (String, String, Vec<String>, String);

fn used(line: &Value) -> Option<Result<Used, String>> {
    let a = line.as_array()?;
    if let Some(e) = a
        .first()
        .and_then(|x| x.get("expression"))
        .and_then(Value::as_str)
    {
        let Some(rest) = e.strip_prefix("SEARCH('{") else {
            return if e.contains("SEARCH") {
                Some(Err(e.to_string()))
            } else {
                None
            };
        };
        let parse = || -> Option<Used> {
            let (schema, rest) = rest.split_once('}')?;
            let mut parts = schema.split(',').map(str::to_string);
            let ns = parts.next()?;
            let dims: Vec<String> = parts.collect();
            let name = rest
                .split("MetricName=\"")
                .nth(1)?
                .split('"')
                .next()?
                .to_string();
            let stat = rest.split("', '").nth(1)?.split('\'').next()?.to_string();
            Some((ns, name, dims, stat))
        };
        return Some(parse().ok_or_else(|| e.to_string()));
    }
    let strs: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
    let opts = a.last().filter(|x| x.is_object());
    let stat = opts
        .and_then(|o| o.get("stat"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (Some(stat), true) = (stat, strs.len() >= 4 && strs.len().is_multiple_of(2)) else {
        return Some(Err(line.to_string()));
    };
    let dims = strs[2..].iter().step_by(2).map(|s| s.to_string()).collect();
    Some(Ok((strs[0].to_string(), strs[1].to_string(), dims, stat)))
}

fn documented(ns: &str, name: &str, dims: &[String], stat: &str) -> bool {
    TABLE.iter().any(|x| {
        x.namespace == ns
            && x.name == name
            && x.statistic == stat
            && x.dimensions
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                == dims
    })
}

#[test]
fn every_widget_and_alarm_is_a_documented_metric() {
    let mut problems = Vec::new();
    let mut lines = 0;
    for engine in [Engine::Flink, Engine::KinesisAnalyticsSql] {
        let (spec, vars) = lab_spec(engine);
        for d in spec.dashboards.values() {
            let body = Dashboard::new(&spec, &d.name, &vars.region).body();
            for w in body["widgets"].as_array().into_iter().flatten() {
                for l in w["properties"]["metrics"].as_array().into_iter().flatten() {
                    match used(l) {
                        None => {}
                        Some(Err(raw)) => {
                            problems.push(format!("{engine:?}: unreadable line {raw}"))
                        }
                        Some(Ok((ns, name, dims, stat))) => {
                            lines += 1;
                            if !documented(&ns, &name, &dims, &stat) {
                                problems.push(format!(
                                    "{engine:?} widget {}: {ns} {name} {dims:?} {stat} is not in metrics::TABLE",
                                    w["properties"]["title"]
                                ));
                            }
                        }
                    }
                }
            }
        }
        for a in spec.alarms.values() {
            let alarm = Alarm::new(&spec, a, &vars);
            match alarm.metric() {
                Some(x) => assert!(TABLE.contains(&x), "{}", a.name),
                // The one documented gap: SQL publishes no downtime (alarm.rs refuses it).
                None => assert!(
                    engine == Engine::KinesisAnalyticsSql && a.name.contains("downtime"),
                    "{engine:?} alarm {} has no documented metric",
                    a.name
                ),
            }
        }
    }
    assert!(lines > 10, "{lines} lines read");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_comparison_catches_an_undocumented_line() {
    let bad =
        serde_json::json!(["AWS/KinesisAnalytics", "Success", "Application", "a", {"stat": "Sum"}]);
    let Some(Ok((ns, name, dims, stat))) = used(&bad) else {
        panic!("readable")
    };
    assert!(!documented(&ns, &name, &dims, &stat));
    let summed = serde_json::json!(["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", "d", {"stat": "Sum"}]);
    let Some(Ok((ns, name, dims, stat))) = used(&summed) else {
        panic!("readable")
    };
    assert!(!documented(&ns, &name, &dims, &stat));
    let search = serde_json::json!([{"expression": "SEARCH('{AWS/KinesisAnalytics,Application,Flow,Id} MetricName=\"Records\" Application=\"a\"', 'Sum', 60)"}]);
    let Some(Ok((ns, name, dims, stat))) = used(&search) else {
        panic!("readable")
    };
    assert!(documented(&ns, &name, &dims, &stat));
    assert_eq!(
        metrics::get(
            "AWS/KinesisAnalytics",
            "numRecordsIn",
            metrics::Of::FlinkApp
        )
        .note,
        "4 snapshots a minute: divide the sum by 4"
    );
}
