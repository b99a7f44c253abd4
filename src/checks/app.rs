//! Check 3: the analytics application is RUNNING and consuming. RUNNING comes from the
//! resource row `status` observed; consumption from the engine's documented metric
//! (Flink: `numRecordsIn` divided by AWS's four snapshots a minute; SQL: `Records` with
//! the `Application`, `Flow`=`Input` and `Id` dimensions). What the endpoint says it
//! does not run (see [`super::capability`]) is `not-observable`. Knows nothing of
//! deliveries or objects.

use super::capability::{DataPlane, Tap};
use super::metric::{self, FLINK_SNAPSHOTS_PER_MINUTE};
use super::model::{check, exists, row, Check, Outcome, WINDOW};
use crate::engine::executor::Row;
use crate::resource::Ctx;
use crate::spec::{ApplicationSpec, Engine, Spec};

const NAME: &str = "the analytics application is RUNNING and consuming";

/// What describing the application told: its data plane and (SQL) its input's id.
pub struct Described {
    pub data_plane: DataPlane,
    pub input_id: Option<String>,
}

/// Describe the application once, keeping the endpoint's capability header.
pub async fn describe(ctx: &Ctx, a: &ApplicationSpec) -> Described {
    let tap = Tap::default();
    let input_id = match a.engine {
        Engine::KinesisAnalyticsSql => ctx
            .aws
            .kinesisanalytics
            .describe_application()
            .application_name(&a.name)
            .customize()
            .interceptor(tap.clone())
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.application_detail()?
                    .input_descriptions()
                    .first()?
                    .input_id()
                    .map(str::to_string)
            }),
        Engine::Flink => {
            let _ = ctx
                .aws
                .kinesisanalyticsv2
                .describe_application()
                .application_name(&a.name)
                .customize()
                .interceptor(tap.clone())
                .send()
                .await;
            None
        }
    };
    Described {
        data_plane: tap.data_plane(),
        input_id,
    }
}

/// Records the application read over the checks' window, and the metric's name.
async fn records_in(ctx: &Ctx, a: &ApplicationSpec, d: &Described) -> (Option<f64>, String) {
    match a.engine {
        Engine::Flink => {
            let dims = [("Application", a.name.as_str())];
            let n = metric::read(ctx, metric::flink_records_in(), &dims, WINDOW).await;
            let n = n
                .ok()
                .flatten()
                .map(|(n, _)| n / FLINK_SNAPSHOTS_PER_MINUTE);
            (n, "numRecordsIn / 4".into())
        }
        Engine::KinesisAnalyticsSql => {
            let Some(id) = d.input_id.as_deref() else {
                return (None, "Records (no input id)".into());
            };
            let dims = [
                ("Application", a.name.as_str()),
                ("Flow", "Input"),
                ("Id", id),
            ];
            let n = metric::read(ctx, metric::sql_records(), &dims, WINDOW).await;
            (
                n.ok().flatten().map(|(n, _)| n),
                format!("Records, Flow=Input, Id={id}"),
            )
        }
    }
}

pub async fn app_check(spec: &Spec, ctx: &Ctx, rows: &[Row], d: Option<&Described>) -> Check {
    let Some((id, a)) = spec.applications.iter().next() else {
        return check(
            3,
            NAME,
            Outcome::NotObservable,
            "the spec declares no application",
        );
    };
    let Some(r) = row(rows, id) else {
        return check(3, NAME, Outcome::NotObservable, "not observed");
    };
    if r.action == "not-built" {
        return check(
            3,
            NAME,
            Outcome::NotObservable,
            "labctl cannot manage the application yet",
        )
        .because("not built in this version", "see the README");
    }
    if !exists(Some(r)) {
        return check(3, NAME, Outcome::Fail, "the application does not exist")
            .because("it was never created or was deleted", "run `labctl up`");
    }
    let state = r.state.clone().unwrap_or_default();
    if state != "RUNNING" {
        return check(
            3,
            NAME,
            Outcome::Fail,
            format!("the application is {state}"),
        )
        .because("it is not running", "run `labctl up`, which starts it");
    }
    let Some(d) = d else {
        return check(
            3,
            NAME,
            Outcome::Fail,
            "the application could not be described",
        );
    };
    if let Some(why) = d.data_plane.absent_because() {
        return check(3, NAME, Outcome::NotObservable, format!("RUNNING; {why}")).because(
            "the application is not run by this endpoint",
            "check this on AWS",
        );
    }
    match records_in(ctx, a, d).await {
        (Some(n), metric) if n > 0.0 => check(
            3,
            NAME,
            Outcome::Pass,
            format!("RUNNING; {n:.0} records in over the last 15 min ({metric})"),
        ),
        (_, metric) => check(
            3,
            NAME,
            Outcome::Pending,
            format!("RUNNING; no {metric} in the last 15 min"),
        )
        .because(
            "the application has read nothing yet (or nothing is produced)",
            "start the producer, then wait a minute",
        ),
    }
}
