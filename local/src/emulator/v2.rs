//! Managed Service for Apache Flink (API 2018-05-23): the operations labctl uses, with
//! the documented validation, version and timestamp checks, Force stops, and the
//! READY → STARTING → RUNNING → STOPPING / FORCE_STOPPING → READY, UPDATING and
//! DELETING transitions.

use serde_json::{json, Map, Value};

use super::model::{
    check_arn, check_len, check_name, err, req, req_str, tag_list, ApiError, Call, Effect, Res,
};

/// The local stack's test hook (not an AWS operation; only the emulator answers it):
/// `{"Lines": ["…"]}` makes the next StartApplication of this API fail as a job that
/// cannot be submitted does on AWS: STARTING, then READY after the start time, with
/// the lines written as ERROR events to the application's log stream.
pub const FAIL_NEXT_START: &str = "LabctlTestFailNextStart";

/// The property group a Python application must have, and its two required keys.
pub const RUN_OPTIONS: &str = "kinesis.analytics.flink.run.options";

pub(super) fn dispatch(c: &mut Call, op: &str, input: &Value) -> Res<Value> {
    match op {
        "CreateApplication" => create(c, input),
        "DescribeApplication" => {
            let name = req_str(input, "ApplicationName")?;
            Ok(json!({"ApplicationDetail": detail(c, name)?}))
        }
        "ListApplications" => {
            let items: Vec<Value> = c
                .list()
                .into_iter()
                .map(|(n, a)| {
                    json!({
                        "ApplicationName": n, "ApplicationARN": a.arn, "ApplicationStatus": a.status,
                        "ApplicationVersionId": a.version,
                        "RuntimeEnvironment": a.detail.get("RuntimeEnvironment").cloned().unwrap_or(Value::Null),
                        "ApplicationMode": "STREAMING",
                    })
                })
                .collect();
            Ok(json!({ "ApplicationSummaries": items }))
        }
        "StartApplication" => start(c, input),
        "StopApplication" => stop(c, input),
        "UpdateApplication" => update(c, input),
        "DeleteApplication" => {
            let name = req_str(input, "ApplicationName")?;
            let ts = req(input, "CreateTimestamp")?.clone();
            let deleting = c.config.timing.deleting;
            let jobs = c.config.run_jobs;
            let key = c.key(name);
            let app = c.get(name)?;
            app.check_created(&ts)?;
            match app.status {
                "READY" | "RUNNING" => {
                    let was_running = app.status == "RUNNING";
                    app.transition("DELETING", deleting, None);
                    // "halts application execution and deletes the application"
                    // (API Reference, DeleteApplication): the job is stopped as a stop
                    // does (SIGTERM to its process group, SIGKILL after 10 s).
                    if jobs && was_running {
                        c.state.effects.push(Effect::Stop { key, force: false });
                    }
                    Ok(json!({}))
                }
                s => Err(in_use(name, s, "READY or RUNNING")),
            }
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => c.tag_operation(op, input),
        FAIL_NEXT_START => {
            let lines: Vec<String> = req(input, "Lines")?
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            c.state.fail_next_start = Some(lines);
            Ok(json!({}))
        }
        other => Err(err(
            "UnsupportedOperationException",
            format!("the labctl emulator does not implement {other} of Managed Service for Apache Flink"),
        )),
    }
}

fn in_use(name: &str, status: &str, want: &str) -> ApiError {
    err(
        "ResourceInUseException",
        format!("Application {name} is in {status} state; it must be {want} for this operation"),
    )
}

const RUNTIMES: &[&str] = &[
    "SQL-1_0",
    "FLINK-1_6",
    "FLINK-1_8",
    "ZEPPELIN-FLINK-1_0",
    "FLINK-1_11",
    "FLINK-1_13",
    "ZEPPELIN-FLINK-2_0",
    "FLINK-1_15",
    "ZEPPELIN-FLINK-3_0",
    "FLINK-1_18",
    "FLINK-1_19",
    "FLINK-1_20",
];

fn code_description(conf: &Value) -> Res<Value> {
    let kind = req_str(conf, "CodeContentType")?;
    if kind != "ZIPFILE" && kind != "PLAINTEXT" {
        return Err(super::model::invalid(
            "applicationCodeConfiguration.codeContentType",
            "Member must satisfy enum value set: [PLAINTEXT, ZIPFILE]",
        ));
    }
    let mut d = json!({"CodeContentType": kind});
    if let Some(content) = conf.get("CodeContent") {
        d["CodeContentDescription"] = content_description(content)?;
    }
    Ok(d)
}

fn content_description(content: &Value) -> Res<Value> {
    if let Some(s3) = content.get("S3ContentLocation") {
        let bucket = req_str(s3, "BucketARN")?;
        check_arn("s3ContentLocation.bucketARN", bucket)?;
        let key = req_str(s3, "FileKey")?;
        check_len("s3ContentLocation.fileKey", key, 1, 1024)?;
        let mut loc = json!({"BucketARN": bucket, "FileKey": key});
        if let Some(v) = s3.get("ObjectVersion").and_then(Value::as_str) {
            loc["ObjectVersion"] = json!(v);
        }
        return Ok(json!({ "S3ApplicationCodeLocationDescription": loc }));
    }
    if let Some(t) = content.get("TextContent").and_then(Value::as_str) {
        check_len("codeContent.textContent", t, 0, 102_400)?;
        return Ok(json!({"TextContent": t}));
    }
    Err(err(
        "InvalidArgumentException",
        "CodeContent must have S3ContentLocation or TextContent",
    ))
}

fn property_groups(v: &Value) -> Res<Value> {
    let groups = req(v, "PropertyGroups")?
        .as_array()
        .ok_or_else(|| super::model::invalid("propertyGroups", "Member must be a list"))?;
    if groups.len() > 50 {
        return Err(super::model::invalid(
            "propertyGroups",
            "Member must have length less than or equal to 50",
        ));
    }
    let mut seen = Vec::new();
    for g in groups {
        let id = req_str(g, "PropertyGroupId")?;
        check_len("propertyGroup.propertyGroupId", id, 1, 50)?;
        if seen.contains(&id) {
            return Err(err(
                "InvalidArgumentException",
                format!("Property group {id} appears twice"),
            ));
        }
        seen.push(id);
        let map = req(g, "PropertyMap")?.as_object().ok_or_else(|| {
            super::model::invalid("propertyGroup.propertyMap", "Member must be a map")
        })?;
        if map.is_empty() || map.len() > 50 {
            return Err(super::model::invalid(
                "propertyGroup.propertyMap",
                "Member must have length between 1 and 50",
            ));
        }
        for (k, val) in map {
            check_len("propertyMap.key", k, 1, 2048)?;
            check_len("propertyMap.value", val.as_str().unwrap_or(""), 1, 2048)?;
        }
    }
    Ok(json!({"PropertyGroupDescriptions": groups}))
}

fn parallelism(p: &Value, update: bool) -> Res<Value> {
    let s = |k: &str| {
        if update {
            format!("{k}Update")
        } else {
            k.to_string()
        }
    };
    let kind = req_str(p, &s("ConfigurationType"))?;
    if kind == "DEFAULT" {
        return Ok(
            json!({"ConfigurationType": "DEFAULT", "Parallelism": 1, "ParallelismPerKPU": 1, "CurrentParallelism": 1, "AutoScalingEnabled": true}),
        );
    }
    if kind != "CUSTOM" {
        return Err(super::model::invalid(
            "parallelismConfiguration.configurationType",
            "Member must satisfy enum value set: [DEFAULT, CUSTOM]",
        ));
    }
    let par = p.get(s("Parallelism")).and_then(Value::as_i64).unwrap_or(1);
    let per = p
        .get(s("ParallelismPerKPU"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if par < 1 {
        return Err(super::model::invalid(
            "parallelism",
            "Member must have value greater than or equal to 1",
        ));
    }
    if !(1..=8).contains(&per) {
        return Err(super::model::invalid(
            "parallelismPerKPU",
            "Member must have value between 1 and 8",
        ));
    }
    let auto = p
        .get(s("AutoScalingEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(
        json!({"ConfigurationType": "CUSTOM", "Parallelism": par, "ParallelismPerKPU": per, "CurrentParallelism": par, "AutoScalingEnabled": auto}),
    )
}

fn logging(c: &Call, v: Option<&Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for (n, l) in v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = req_str(l, "LogStreamARN")?;
        check_arn("cloudWatchLoggingOption.logStreamARN", s)?;
        if !s.starts_with(&format!("arn:aws:logs:{}:", c.region)) {
            return Err(err(
                "InvalidArgumentException",
                format!(
                    "LogStreamARN {s} is not a CloudWatch Logs log stream ARN of {}",
                    c.region
                ),
            ));
        }
        out.push(json!({"CloudWatchLoggingOptionId": format!("1.{}", n + 1), "LogStreamARN": s}));
    }
    Ok(out)
}

/// CreateApplication's `ApplicationConfiguration` as DescribeApplication shows it:
/// code, properties, Flink parallelism (with AWS's default checkpointing and
/// monitoring) and snapshots.
fn configuration_description(ac: &Value) -> Res<Map<String, Value>> {
    let mut conf = Map::new();
    if let Some(code) = ac.get("ApplicationCodeConfiguration") {
        conf.insert(
            "ApplicationCodeConfigurationDescription".into(),
            code_description(code)?,
        );
    }
    if let Some(env) = ac.get("EnvironmentProperties") {
        conf.insert(
            "EnvironmentPropertyDescriptions".into(),
            property_groups(env)?,
        );
    }
    let flink = ac.get("FlinkApplicationConfiguration");
    let par = match flink.and_then(|f| f.get("ParallelismConfiguration")) {
        Some(p) => parallelism(p, false)?,
        None => parallelism(&json!({"ConfigurationType": "DEFAULT"}), false)?,
    };
    conf.insert(
        "FlinkApplicationConfigurationDescription".into(),
        json!({
            "ParallelismConfigurationDescription": par,
            "CheckpointConfigurationDescription": {"ConfigurationType": "DEFAULT", "CheckpointingEnabled": true, "CheckpointInterval": 60000, "MinPauseBetweenCheckpoints": 5000},
            "MonitoringConfigurationDescription": {"ConfigurationType": "DEFAULT", "MetricsLevel": "APPLICATION", "LogLevel": "INFO"},
        }),
    );
    let snapshots = ac
        .get("ApplicationSnapshotConfiguration")
        .and_then(|s| s.get("SnapshotsEnabled"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    conf.insert(
        "ApplicationSnapshotConfigurationDescription".into(),
        json!({"SnapshotsEnabled": snapshots}),
    );
    Ok(conf)
}

fn create(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    check_name(name)?;
    let runtime = req_str(input, "RuntimeEnvironment")?;
    if !RUNTIMES.contains(&runtime) {
        return Err(err(
            "InvalidArgumentException",
            format!(
                "RuntimeEnvironment {runtime} is not supported; use one of {}",
                RUNTIMES.join(", ")
            ),
        ));
    }
    let mut d = Map::new();
    d.insert("RuntimeEnvironment".into(), json!(runtime));
    if runtime.starts_with("FLINK") {
        let role = req_str(input, "ServiceExecutionRole")?;
        check_arn("serviceExecutionRole", role)?;
        d.insert("ServiceExecutionRole".into(), json!(role));
    }
    if let Some(desc) = input.get("ApplicationDescription").and_then(Value::as_str) {
        check_len("applicationDescription", desc, 0, 1024)?;
        d.insert("ApplicationDescription".into(), json!(desc));
    }
    let mode = input
        .get("ApplicationMode")
        .and_then(Value::as_str)
        .unwrap_or("STREAMING");
    d.insert("ApplicationMode".into(), json!(mode));
    let mut conf = Map::new();
    if let Some(ac) = input.get("ApplicationConfiguration") {
        conf = configuration_description(ac)?;
    } else if runtime.starts_with("FLINK") {
        return Err(err(
            "InvalidArgumentException",
            "1 validation error detected: Value null at 'applicationConfiguration' failed to satisfy constraint: a Flink application needs its code configuration",
        ));
    }
    if !conf.contains_key("ApplicationCodeConfigurationDescription") && runtime.starts_with("FLINK")
    {
        return Err(err(
            "InvalidArgumentException",
            "1 validation error detected: Value null at 'applicationConfiguration.applicationCodeConfiguration' failed to satisfy constraint: Member must not be null",
        ));
    }
    d.insert(
        "ApplicationConfigurationDescription".into(),
        Value::Object(conf),
    );
    d.insert(
        "CloudWatchLoggingOptionDescriptions".into(),
        Value::Array(logging(c, input.get("CloudWatchLoggingOptions"))?),
    );
    let tags = tag_list(input.get("Tags"))?;
    if c.exists(name) {
        return Err(err(
            "ResourceInUseException",
            format!("Application {name} already exists"),
        ));
    }
    c.insert(name, d, tags);
    Ok(json!({"ApplicationDetail": detail(c, name)?}))
}

fn detail(c: &mut Call, name: &str) -> Res<Value> {
    let app = c.get(name)?;
    let mut d = app.detail.clone();
    d.insert("ApplicationName".into(), json!(name));
    d.insert("ApplicationARN".into(), json!(app.arn));
    d.insert("ApplicationStatus".into(), json!(app.status));
    d.insert("ApplicationVersionId".into(), json!(app.version));
    d.insert("CreateTimestamp".into(), json!(app.created));
    d.insert("LastUpdateTimestamp".into(), json!(app.updated));
    Ok(Value::Object(d))
}

fn groups_of(d: &Map<String, Value>) -> Vec<Value> {
    d.get("ApplicationConfigurationDescription")
        .and_then(|c| c.get("EnvironmentPropertyDescriptions"))
        .and_then(|e| e.get("PropertyGroupDescriptions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn start(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let starting = c.config.timing.starting;
    let app = c.get(name)?;
    if app.status != "READY" {
        return Err(in_use(name, app.status, "READY"));
    }
    // A Python application does not start without both run options.
    if let Some(g) = groups_of(&app.detail)
        .iter()
        .find(|g| g["PropertyGroupId"] == RUN_OPTIONS)
    {
        for key in ["python", "jarfile"] {
            if g["PropertyMap"]
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(err(
                    "InvalidApplicationConfigurationException",
                    format!("Property group {RUN_OPTIONS} has no `{key}`: a Python application needs `python` (the script) and `jarfile` (the connector jar) in it"),
                ));
            }
        }
    }
    let op = json!({"OperationId": format!("start-{}", app.version)});
    let (arn, version, detail) = (app.arn.clone(), app.version, app.detail.clone());
    if let Some(lines) = c.state.fail_next_start.take() {
        // The test hook: a start whose job cannot be submitted.
        let app = c.get(name)?;
        app.transition("STARTING", starting, Some("READY"));
        if let Some(log_stream_arn) = log_stream_of(&detail) {
            let region = c.region.to_string();
            c.state.effects.push(Effect::Log {
                region,
                arn,
                version,
                log_stream_arn,
                lines,
            });
        }
        return Ok(op);
    }
    if c.config.run_jobs {
        // The job decides: STARTING until it runs (or READY if it cannot be submitted).
        let key = c.key(name);
        let app = c.get(name)?;
        app.status = "STARTING";
        app.next = None;
        c.state.effects.push(Effect::Launch {
            key,
            arn,
            version,
            detail,
        });
        return Ok(op);
    }
    let app = c.get(name)?;
    app.transition("STARTING", starting, Some("RUNNING"));
    Ok(op)
}

/// The first CloudWatch logging option's log stream ARN of a description.
pub(crate) fn log_stream_of(d: &Map<String, Value>) -> Option<String> {
    d.get("CloudWatchLoggingOptionDescriptions")?
        .as_array()?
        .first()?
        .get("LogStreamARN")?
        .as_str()
        .map(str::to_string)
}

fn stop(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let force = input.get("Force").and_then(Value::as_bool).unwrap_or(false);
    let t = c.config.timing;
    let jobs = c.config.run_jobs;
    let key = c.key(name);
    let app = c.get(name)?;
    let job = jobs && app.next.is_none();
    match (app.status, force) {
        ("RUNNING", false) if job => {
            // READY once the job's process is gone.
            app.status = "STOPPING";
            c.state.effects.push(Effect::Stop { key, force: false });
        }
        ("RUNNING" | "STARTING" | "UPDATING" | "STOPPING" | "AUTOSCALING", true) if job => {
            app.status = "FORCE_STOPPING";
            c.state.effects.push(Effect::Stop { key, force: true });
        }
        ("RUNNING", false) => app.transition("STOPPING", t.stopping, Some("READY")),
        ("RUNNING" | "STARTING" | "UPDATING" | "STOPPING" | "AUTOSCALING", true) => {
            app.transition("FORCE_STOPPING", t.force_stopping, Some("READY"))
        }
        (s, false) => {
            return Err(in_use(
                name,
                s,
                "RUNNING (use Force for STARTING, UPDATING or STOPPING)",
            ))
        }
        (s, true) => {
            return Err(in_use(
                name,
                s,
                "STARTING, UPDATING, STOPPING, AUTOSCALING or RUNNING",
            ))
        }
    }
    let version = c.get(name)?.version;
    Ok(json!({"OperationId": format!("stop-{version}")}))
}

/// Apply `ApplicationCodeConfigurationUpdate` to the code description.
fn code_update(cd: &mut Value, code: &Value) -> Res<()> {
    if let Some(k) = code.get("CodeContentTypeUpdate") {
        cd["CodeContentType"] = k.clone();
    }
    if let Some(cu) = code.get("CodeContentUpdate") {
        if let Some(s3) = cu.get("S3ContentLocationUpdate") {
            let loc = &mut cd["CodeContentDescription"]["S3ApplicationCodeLocationDescription"];
            if let Some(b) = s3.get("BucketARNUpdate").and_then(Value::as_str) {
                check_arn("bucketARNUpdate", b)?;
                loc["BucketARN"] = json!(b);
            }
            if let Some(k) = s3.get("FileKeyUpdate").and_then(Value::as_str) {
                check_len("fileKeyUpdate", k, 1, 1024)?;
                loc["FileKey"] = json!(k);
            }
            if let Some(v) = s3.get("ObjectVersionUpdate") {
                loc["ObjectVersion"] = v.clone();
            }
        }
        if let Some(tc) = cu.get("TextContentUpdate") {
            cd["CodeContentDescription"] = json!({"TextContent": tc});
        }
    }
    Ok(())
}

/// Apply `ApplicationConfigurationUpdate` (code, properties, parallelism, snapshots)
/// to the configuration description. Returns whether it changed anything.
fn configuration_update(conf: &mut Value, u: &Value) -> Res<bool> {
    let mut changed = false;
    if let Some(code) = u.get("ApplicationCodeConfigurationUpdate") {
        code_update(&mut conf["ApplicationCodeConfigurationDescription"], code)?;
        changed = true;
    }
    if let Some(env) = u.get("EnvironmentPropertyUpdates") {
        conf["EnvironmentPropertyDescriptions"] = property_groups(env)?;
        changed = true;
    }
    if let Some(p) = u
        .get("FlinkApplicationConfigurationUpdate")
        .and_then(|f| f.get("ParallelismConfigurationUpdate"))
    {
        conf["FlinkApplicationConfigurationDescription"]["ParallelismConfigurationDescription"] =
            parallelism(p, true)?;
        changed = true;
    }
    if let Some(s) = u
        .get("ApplicationSnapshotConfigurationUpdate")
        .and_then(|s| s.get("SnapshotsEnabledUpdate"))
    {
        conf["ApplicationSnapshotConfigurationDescription"] = json!({"SnapshotsEnabled": s});
        changed = true;
    }
    Ok(changed)
}

/// Apply `CloudWatchLoggingOptionUpdates` to the application's logging options.
fn logging_updates(
    d: &mut Map<String, Value>,
    name: &str,
    region: &str,
    list: &[Value],
) -> Res<()> {
    let opts = d
        .entry("CloudWatchLoggingOptionDescriptions")
        .or_insert_with(|| json!([]));
    for u in list {
        let id = req_str(u, "CloudWatchLoggingOptionId")?;
        let Some(o) = opts
            .as_array_mut()
            .and_then(|a| a.iter_mut().find(|o| o["CloudWatchLoggingOptionId"] == id))
        else {
            return Err(err(
                "ResourceNotFoundException",
                format!("Application {name} has no logging option {id}"),
            ));
        };
        if let Some(s) = u.get("LogStreamARNUpdate").and_then(Value::as_str) {
            check_arn("logStreamARNUpdate", s)?;
            if !s.starts_with(&format!("arn:aws:logs:{region}:")) {
                return Err(err(
                    "InvalidArgumentException",
                    format!("LogStreamARN {s} is not a log stream ARN of {region}"),
                ));
            }
            o["LogStreamARN"] = json!(s);
        }
    }
    Ok(())
}

fn update(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let t = c.config.timing;
    let region = c.region.to_string();
    let app = c.get(name)?;
    if input.get("ConditionalToken").is_none() {
        app.check_version(input.get("CurrentApplicationVersionId"))?;
    }
    if app.status != "READY" && app.status != "RUNNING" {
        return Err(in_use(name, app.status, "READY or RUNNING"));
    }
    let mut d = app.detail.clone();
    let mut changed = false;
    if let Some(r) = input
        .get("ServiceExecutionRoleUpdate")
        .and_then(Value::as_str)
    {
        check_arn("serviceExecutionRoleUpdate", r)?;
        d.insert("ServiceExecutionRole".into(), json!(r));
        changed = true;
    }
    if let Some(r) = input
        .get("RuntimeEnvironmentUpdate")
        .and_then(Value::as_str)
    {
        if !RUNTIMES.contains(&r) {
            return Err(err(
                "InvalidArgumentException",
                format!("RuntimeEnvironment {r} is not supported"),
            ));
        }
        d.insert("RuntimeEnvironment".into(), json!(r));
        changed = true;
    }
    let conf = d
        .entry("ApplicationConfigurationDescription")
        .or_insert_with(|| json!({}));
    if let Some(u) = input.get("ApplicationConfigurationUpdate") {
        changed |= configuration_update(conf, u)?;
    }
    if let Some(list) = input
        .get("CloudWatchLoggingOptionUpdates")
        .and_then(Value::as_array)
    {
        logging_updates(&mut d, name, &region, list)?;
        changed |= !list.is_empty();
    }
    if !changed && input.get("RunConfigurationUpdate").is_none() {
        return Err(err(
            "InvalidArgumentException",
            "UpdateApplication must change something: give a configuration, role, runtime or logging update",
        ));
    }
    app.detail = d;
    app.bump();
    let back = app.status;
    app.transition("UPDATING", t.updating, Some(back));
    let out = detail(c, name)?;
    Ok(json!({"ApplicationDetail": out, "OperationId": "update"}))
}

#[cfg(test)]
mod tests {
    use super::super::{call, test_emulator, Api, Timing};
    use super::*;
    use std::time::Duration;

    const T: &str = "KinesisAnalytics_20180523.";

    fn app(run_options: Value) -> Value {
        json!({
            "ApplicationName": "f",
            "RuntimeEnvironment": "FLINK-1_20",
            "ServiceExecutionRole": "arn:aws:iam::123456789012:role/r",
            "ApplicationConfiguration": {
                "ApplicationCodeConfiguration": {"CodeContentType": "ZIPFILE", "CodeContent": {"S3ContentLocation": {"BucketARN": "arn:aws:s3:::b", "FileKey": "code/f.zip"}}},
                "EnvironmentProperties": {"PropertyGroups": [{"PropertyGroupId": RUN_OPTIONS, "PropertyMap": run_options}]},
                "FlinkApplicationConfiguration": {"ParallelismConfiguration": {"ConfigurationType": "CUSTOM", "Parallelism": 2, "ParallelismPerKPU": 1, "AutoScalingEnabled": false}}
            },
            "CloudWatchLoggingOptions": [{"LogStreamARN": "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:s"}],
            "Tags": [{"Key": "labctl:pipeline", "Value": "p"}]
        })
    }

    #[tokio::test]
    async fn start_needs_both_run_options_and_force_stops() {
        let e = test_emulator(Timing::uniform(Duration::from_secs(3600)));
        let r = call(
            &e,
            &format!("{T}CreateApplication"),
            app(json!({"python": "main.py"})),
        )
        .await;
        assert_eq!(
            r.body["ApplicationDetail"]["ApplicationStatus"], "READY",
            "{r:?}"
        );
        let par = &r.body["ApplicationDetail"]["ApplicationConfigurationDescription"]
            ["FlinkApplicationConfigurationDescription"]["ParallelismConfigurationDescription"];
        assert_eq!(
            (
                par["Parallelism"].as_i64(),
                par["AutoScalingEnabled"].as_bool()
            ),
            (Some(2), Some(false))
        );
        let s = call(
            &e,
            &format!("{T}StartApplication"),
            json!({"ApplicationName": "f"}),
        )
        .await;
        assert_eq!(
            s.error_type.as_deref(),
            Some("InvalidApplicationConfigurationException")
        );
        assert!(
            s.body["message"].as_str().unwrap_or("").contains("jarfile"),
            "{s:?}"
        );

        let upd = call(&e, &format!("{T}UpdateApplication"), json!({
            "ApplicationName": "f", "CurrentApplicationVersionId": 1,
            "ApplicationConfigurationUpdate": {"EnvironmentPropertyUpdates": {"PropertyGroups": [{"PropertyGroupId": RUN_OPTIONS, "PropertyMap": {"python": "main.py", "jarfile": "lib/c.jar"}}]}}
        })).await;
        assert_eq!(
            upd.body["ApplicationDetail"]["ApplicationVersionId"], 2,
            "{upd:?}"
        );
        e.settle();
        let s = call(
            &e,
            &format!("{T}StartApplication"),
            json!({"ApplicationName": "f"}),
        )
        .await;
        assert_eq!(s.status, 200, "{s:?}");
        assert_eq!(
            e.status(Api::V2, "us-east-1", "f").as_deref(),
            Some("STARTING")
        );
        // A plain stop is refused while STARTING; Force is not.
        let plain = call(
            &e,
            &format!("{T}StopApplication"),
            json!({"ApplicationName": "f"}),
        )
        .await;
        assert_eq!(plain.error_type.as_deref(), Some("ResourceInUseException"));
        let forced = call(
            &e,
            &format!("{T}StopApplication"),
            json!({"ApplicationName": "f", "Force": true}),
        )
        .await;
        assert_eq!(forced.status, 200);
        assert_eq!(
            e.status(Api::V2, "us-east-1", "f").as_deref(),
            Some("FORCE_STOPPING")
        );
        e.settle();
        assert_eq!(
            e.status(Api::V2, "us-east-1", "f").as_deref(),
            Some("READY")
        );
        // v1 and v2 keep separate namespaces.
        assert_eq!(e.status(Api::V1, "us-east-1", "f"), None);
    }

    #[tokio::test]
    async fn validation_and_tags() {
        let e = test_emulator(Timing::default());
        let mut no_role = app(json!({"python": "main.py", "jarfile": "lib/c.jar"}));
        no_role
            .as_object_mut()
            .map(|o| o.remove("ServiceExecutionRole"));
        let r = call(&e, &format!("{T}CreateApplication"), no_role).await;
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("ServiceExecutionRole"),
            "{r:?}"
        );
        let mut bad_runtime = app(json!({"python": "main.py", "jarfile": "lib/c.jar"}));
        bad_runtime["RuntimeEnvironment"] = json!("FLINK-0_1");
        let r = call(&e, &format!("{T}CreateApplication"), bad_runtime).await;
        assert_eq!(r.error_type.as_deref(), Some("InvalidArgumentException"));
        let r = call(
            &e,
            &format!("{T}CreateApplication"),
            app(json!({"python": "main.py", "jarfile": "lib/c.jar"})),
        )
        .await;
        let arn = r.body["ApplicationDetail"]["ApplicationARN"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert_eq!(
            arn,
            "arn:aws:kinesisanalytics:us-east-1:123456789012:application/f"
        );
        let t = call(
            &e,
            &format!("{T}ListTagsForResource"),
            json!({"ResourceARN": arn}),
        )
        .await;
        assert_eq!(
            t.body["Tags"],
            json!([{"Key": "labctl:pipeline", "Value": "p"}])
        );
        let missing = call(
            &e,
            &format!("{T}DescribeApplication"),
            json!({"ApplicationName": "nope"}),
        )
        .await;
        assert_eq!(
            missing.error_type.as_deref(),
            Some("ResourceNotFoundException")
        );
        let unknown = call(&e, &format!("{T}CreateApplicationSnapshot"), json!({})).await;
        assert_eq!(
            unknown.error_type.as_deref(),
            Some("UnsupportedOperationException")
        );
    }
}
