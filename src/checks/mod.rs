//! The lab's validation steps as checks run by `labctl status`: records arriving in
//! the stream, raw data landing in S3, the application running and consuming,
//! aggregates landing, and the dashboard and alarms. Each check says pass, fail,
//! pending or not observable, with its evidence and, when not passing, the likely
//! cause and what to do. A check the endpoint cannot show is never reported as passed,
//! and every check decides the same way on every endpoint: `not-observable` only when
//! the endpoint says it lacks the capability ([`capability`]), never from its address.

mod app;
pub mod capability;
mod content;
mod landing;
pub mod metric;
mod model;
mod stream;

use crate::engine::executor::Row;
use crate::resource::dashboard::Dashboard;
use crate::resource::Ctx;
use crate::spec::{SourceType, Spec};
use capability::DataPlane;
pub use content::{aggregate_problem, reading_problem, records, sensor_table, TEMPERATURE_RANGE};
use landing::{Landing, Step};
use model::{check, exists, row};
pub use model::{Check, Outcome, SensorRow};

/// Run the five checks: always all five, in step order, each with its outcome and why
/// (a missing resource or an undeclared one is `fail` or `not-observable`, never left
/// out). `rows` are the resource rows `status` already observed.
pub async fn run(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> (Vec<Check>, Vec<SensorRow>) {
    let mut checks = Vec::new();
    let mut sensors = Vec::new();

    // 1. Records arriving in the stream.
    let (first, arriving) = stream::arriving_check(spec, ctx, rows).await;
    checks.push(first);

    // 3. The application, described once (its endpoint may say it runs no data plane).
    let app = spec.applications.iter().next();
    let described = match app {
        Some((_, a)) => Some(app::describe(ctx, a).await),
        None => None,
    };
    checks.push(app::app_check(spec, ctx, rows, described.as_ref()).await);

    // 2. Raw data landing; 4. aggregates landing.
    let landing = Landing {
        spec,
        ctx,
        rows,
        arriving,
        app_data_plane: described.map(|d| d.data_plane).unwrap_or(DataPlane::Runs),
    };
    for step in landing_steps(spec) {
        let c = match step {
            Ok(s) => landing.check(&s, &mut sensors).await,
            Err((step, name)) => check(
                step,
                name,
                Outcome::NotObservable,
                "the spec declares no such delivery stream",
            ),
        };
        checks.push(c);
    }
    checks.sort_by_key(|c| c.step);

    // 5. Dashboard and alarms.
    checks.push(dashboard_check(spec, ctx, rows).await);
    (checks, sensors)
}

/// Steps 2 and 4: the raw delivery (Kinesis source) and the application's output
/// delivery, or the step's number and name when the spec has no such delivery.
fn landing_steps(spec: &Spec) -> Vec<Result<Step<'_>, (u8, &'static str)>> {
    let stream_name = |id: &str| spec.streams.get(id).map(|s| s.name.as_str());
    let raw = spec
        .delivery_streams
        .iter()
        .find(|(_, d)| d.source.kind == SourceType::KinesisStream)
        .map(|(id, d)| Step {
            step: 2,
            name: "raw data is landing in S3",
            delivery: id,
            d,
            aggregate: false,
            stream: d.source.stream.as_deref().and_then(stream_name),
        });
    let processed = spec.applications.iter().next().and_then(|(_, a)| {
        let (id, d) = spec
            .delivery_streams
            .get_key_value(&a.output.delivery_stream)?;
        Some(Step {
            step: 4,
            name: "aggregates are landing in S3",
            delivery: id,
            d,
            aggregate: true,
            stream: stream_name(&a.input.stream),
        })
    });
    vec![
        raw.ok_or((2, "raw data is landing in S3")),
        processed.ok_or((4, "aggregates are landing in S3")),
    ]
}

/// Whether a dashboard has every metric widget labctl puts there: the evidence, or
/// the problem.
async fn dashboard_widgets(spec: &Spec, ctx: &Ctx, name: &str) -> Result<String, String> {
    let want = Dashboard::new(spec, name, ctx.region()).body();
    let titles: Vec<String> = want["widgets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["properties"]["title"].as_str().map(str::to_string))
        .collect();
    let out = ctx
        .aws
        .cloudwatch
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .map_err(|e| format!("dashboard {name}: {}", crate::aws::errors::sdk_message(&e)))?;
    let body = out.dashboard_body().unwrap_or("");
    let missing: Vec<&str> = titles
        .iter()
        .map(String::as_str)
        .filter(|t| !body.contains(t))
        .collect();
    if missing.is_empty() {
        Ok(format!(
            "dashboard {name} has all {} metric widgets",
            titles.len()
        ))
    } else {
        Err(format!("dashboard {name} lacks {}", missing.join(", ")))
    }
}

async fn dashboard_check(spec: &Spec, ctx: &Ctx, rows: &[Row]) -> Check {
    let name = "the dashboard has every widget and no alarm is in ALARM";
    let mut evidence = Vec::new();
    let mut problems = Vec::new();
    for (id, d) in &spec.dashboards {
        if !exists(row(rows, id)) {
            problems.push(format!("dashboard {} does not exist", d.name));
            continue;
        }
        match dashboard_widgets(spec, ctx, &d.name).await {
            Ok(e) => evidence.push(e),
            Err(p) => problems.push(p),
        }
    }
    let mut firing = Vec::new();
    for (id, a) in &spec.alarms {
        match row(rows, id).and_then(|r| r.state.as_deref()) {
            Some("ALARM") => firing.push(a.name.clone()),
            Some(_) => {}
            None => problems.push(format!("alarm {} does not exist", a.name)),
        }
    }
    if !spec.alarms.is_empty() {
        evidence.push(format!(
            "{} alarms, {} in ALARM",
            spec.alarms.len(),
            firing.len()
        ));
    }
    if !firing.is_empty() {
        problems.push(format!("in ALARM: {}", firing.join(", ")));
    }
    if problems.is_empty() {
        check(5, name, Outcome::Pass, evidence.join("; "))
    } else {
        check(5, name, Outcome::Fail, problems.join("; ")).because(
            "a part of the monitoring is missing or an alarm fired",
            "run `labctl up` for missing parts; open the dashboard for a firing alarm",
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn parses_concatenated_and_line_separated_records() {
        let got = records(
            br#"{"a":1}{"a":2}
{"a":3}"#,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        assert!(records(b"{\"a\":1}{broken").is_err());
    }

    #[test]
    fn flags_out_of_range_sensors() {
        let rows: Vec<Value> = vec![
            serde_json::json!({"sensor_id": "sensor-001", "avg_temperature": 20.0, "min_temperature": 15.0, "max_temperature": 25.0, "window_end_time": "2026-01-01 00:01:00"}),
            serde_json::json!({"sensor_id": "sensor-001", "avg_temperature": 30.0, "min_temperature": 15.0, "max_temperature": 55.0, "window_end_time": "2026-01-01 00:02:00"}),
            serde_json::json!({"SENSOR_ID": "sensor-002", "AVG_TEMPERATURE": 21.0, "MAX_TEMPERATURE": 22.0, "WINDOW_END_TIME": "2026-01-01 00:02:00"}),
        ];
        let t = sensor_table(&rows);
        assert_eq!(t.len(), 2);
        assert!(t[0].flagged && t[0].max_temperature == 55.0);
        assert!(!t[1].flagged);
    }
}
