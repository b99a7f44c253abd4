//! Kinesis Analytics for SQL (API 2015-08-14): the operations labctl uses, with the
//! documented validation, version and timestamp checks, and the READY → STARTING →
//! RUNNING → STOPPING → READY, UPDATING and DELETING transitions.

use serde_json::{json, Map, Value};

use super::model::{
    check_arn, check_len, check_name, err, req, req_str, tag_list, ApiError, Call, Config, Res,
};

pub(super) fn dispatch(c: &mut Call, op: &str, input: &Value) -> Res<Value> {
    match op {
        "CreateApplication" => create(c, input),
        "DescribeApplication" => describe(c, input),
        "ListApplications" => list(c),
        "StartApplication" => start(c, input),
        "StopApplication" => stop(c, input),
        "UpdateApplication" => update(c, input),
        "DeleteApplication" => delete(c, input),
        "TagResource" | "UntagResource" | "ListTagsForResource" => c.tag_operation(op, input),
        other => Err(err(
            "UnsupportedOperationException",
            format!("the labctl emulator does not implement {other} of Kinesis Analytics (v1)"),
        )),
    }
}

fn one_of<'a>(v: &'a Value, field: &str, names: &[&'a str]) -> Res<(&'a str, &'a Value)> {
    let present: Vec<(&str, &Value)> = names
        .iter()
        .filter_map(|n| v.get(*n).filter(|x| !x.is_null()).map(|x| (*n, x)))
        .collect();
    match present.as_slice() {
        [one] => Ok(*one),
        _ => Err(err(
            "InvalidArgumentException",
            format!("{field} must have exactly one of {}", names.join(", ")),
        )),
    }
}

fn resource(v: &Value, field: &str) -> Res<Value> {
    let arn = req_str(v, "ResourceARN")?;
    check_arn(&format!("{field}.resourceARN"), arn)?;
    let role = req_str(v, "RoleARN")?;
    check_arn(&format!("{field}.roleARN"), role)?;
    Ok(json!({"ResourceARN": arn, "RoleARN": role}))
}

fn record_format(v: &Value) -> Res<Value> {
    let t = req_str(v, "RecordFormatType")?;
    if t != "JSON" && t != "CSV" {
        return Err(super::model::invalid(
            "recordFormat.recordFormatType",
            "Member must satisfy enum value set: [JSON, CSV]",
        ));
    }
    if let Some(m) = v.get("MappingParameters") {
        if let Some(j) = m.get("JSONMappingParameters") {
            req_str(j, "RecordRowPath")?;
        }
        if let Some(c) = m.get("CSVMappingParameters") {
            req_str(c, "RecordRowDelimiter")?;
            req_str(c, "RecordColumnDelimiter")?;
        }
    }
    Ok(v.clone())
}

fn schema(v: &Value) -> Res<Value> {
    record_format(req(v, "RecordFormat")?)?;
    let cols = req(v, "RecordColumns")?.as_array().ok_or_else(|| {
        super::model::invalid("inputSchema.recordColumns", "Member must be a list")
    })?;
    if cols.is_empty() || cols.len() > 1000 {
        return Err(super::model::invalid(
            "inputSchema.recordColumns",
            "Member must have length between 1 and 1000",
        ));
    }
    for col in cols {
        req_str(col, "Name")?;
        let t = req_str(col, "SqlType")?;
        check_len("recordColumn.sqlType", t, 1, 1000)?;
    }
    if let Some(e) = v.get("RecordEncoding").and_then(Value::as_str) {
        if e != "UTF-8" {
            return Err(super::model::invalid(
                "inputSchema.recordEncoding",
                "Member must satisfy regular expression pattern: UTF-8",
            ));
        }
    }
    Ok(v.clone())
}

fn name_prefix(p: &str) -> Res<()> {
    check_len("input.namePrefix", p, 1, 32)?;
    if p.chars().any(|c| c.is_whitespace() || "-<>&".contains(c)) {
        return Err(super::model::invalid(
            "input.namePrefix",
            "Member must satisfy regular expression pattern: [^-\\s<>&]*",
        ));
    }
    Ok(())
}

fn input_description(i: &Value, id: &str) -> Res<Value> {
    let prefix = req_str(i, "NamePrefix")?;
    name_prefix(prefix)?;
    let schema = schema(req(i, "InputSchema")?)?;
    let (kind, src) = one_of(i, "input", &["KinesisStreamsInput", "KinesisFirehoseInput"])?;
    let src = resource(src, "input")?;
    let count = i
        .get("InputParallelism")
        .and_then(|p| p.get("Count"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if !(1..=64).contains(&count) {
        return Err(super::model::invalid(
            "inputParallelism.count",
            "Member must have value between 1 and 64",
        ));
    }
    let mut d = json!({
        "InputId": id,
        "NamePrefix": prefix,
        "InAppStreamNames": (1..=count).map(|n| format!("{prefix}_{n:03}")).collect::<Vec<_>>(),
        "InputSchema": schema,
        "InputParallelism": {"Count": count},
        "InputStartingPositionConfiguration": {},
    });
    d[format!("{kind}Description")] = src;
    if let Some(p) = i.get("InputProcessingConfiguration") {
        d["InputProcessingConfigurationDescription"] = p.clone();
    }
    Ok(d)
}

fn output_description(o: &Value, id: &str) -> Res<Value> {
    let name = req_str(o, "Name")?;
    check_len("output.name", name, 1, 32)?;
    let dest = req(o, "DestinationSchema")?;
    record_format(&json!({"RecordFormatType": req_str(dest, "RecordFormatType")?}))?;
    let (kind, target) = one_of(
        o,
        "output",
        &[
            "KinesisStreamsOutput",
            "KinesisFirehoseOutput",
            "LambdaOutput",
        ],
    )?;
    let mut d = json!({"OutputId": id, "Name": name, "DestinationSchema": dest});
    d[format!("{kind}Description")] = resource(target, "output")?;
    Ok(d)
}

fn logging(v: Option<&Value>) -> Res<Vec<Value>> {
    let mut out = Vec::new();
    for (n, l) in v
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = req_str(l, "LogStreamARN")?;
        check_arn("cloudWatchLoggingOption.logStreamARN", s)?;
        let r = req_str(l, "RoleARN")?;
        check_arn("cloudWatchLoggingOption.roleARN", r)?;
        out.push(json!({"CloudWatchLoggingOptionId": format!("1.{}", n + 1), "LogStreamARN": s, "RoleARN": r}));
    }
    Ok(out)
}

fn code(v: Option<&Value>) -> Res<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_len("applicationCode", s, 0, 102_400)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(super::model::invalid(
            "applicationCode",
            "Member must be a string",
        )),
    }
}

fn create(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    check_name(name)?;
    if c.config.sql_discontinued {
        return Err(err(
            "UnsupportedOperationException",
            super::model::DISCONTINUED_MESSAGE,
        ));
    }
    if c.exists(name) {
        return Err(err(
            "ResourceInUseException",
            format!("Application {name} already exists"),
        ));
    }
    let mut detail = Map::new();
    let inputs = input.get("Inputs").and_then(Value::as_array);
    if inputs.is_some_and(|i| i.len() > 1) {
        return Err(super::model::invalid(
            "inputs",
            "Member must have length less than or equal to 1",
        ));
    }
    let inputs = inputs
        .into_iter()
        .flatten()
        .map(|i| input_description(i, "1.1"))
        .collect::<Res<Vec<_>>>()?;
    let outputs = input.get("Outputs").and_then(Value::as_array);
    if outputs.is_some_and(|o| o.len() > 3) {
        return Err(super::model::invalid(
            "outputs",
            "Member must have length less than or equal to 3",
        ));
    }
    let outputs = outputs
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, o)| output_description(o, &format!("1.{}", n + 1)))
        .collect::<Res<Vec<_>>>()?;
    if let Some(d) = input.get("ApplicationDescription").and_then(Value::as_str) {
        check_len("applicationDescription", d, 0, 1024)?;
        detail.insert("ApplicationDescription".into(), json!(d));
    }
    detail.insert("InputDescriptions".into(), Value::Array(inputs));
    detail.insert("OutputDescriptions".into(), Value::Array(outputs));
    detail.insert("ReferenceDataSourceDescriptions".into(), json!([]));
    detail.insert(
        "CloudWatchLoggingOptionDescriptions".into(),
        Value::Array(logging(input.get("CloudWatchLoggingOptions"))?),
    );
    if let Some(code) = code(input.get("ApplicationCode"))? {
        detail.insert("ApplicationCode".into(), json!(code));
    }
    let tags = tag_list(input.get("Tags"))?;
    c.insert(name, detail, tags);
    let app = c.get(name)?;
    Ok(json!({"ApplicationSummary": {
        "ApplicationName": name,
        "ApplicationARN": app.arn,
        "ApplicationStatus": app.status,
    }}))
}

fn describe(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let app = c.get(name)?;
    let mut d = app.detail.clone();
    d.insert("ApplicationName".into(), json!(name));
    d.insert("ApplicationARN".into(), json!(app.arn));
    d.insert("ApplicationStatus".into(), json!(app.status));
    d.insert("CreateTimestamp".into(), json!(app.created));
    d.insert("LastUpdateTimestamp".into(), json!(app.updated));
    d.insert("ApplicationVersionId".into(), json!(app.version));
    Ok(json!({ "ApplicationDetail": d }))
}

fn list(c: &mut Call) -> Res<Value> {
    let items: Vec<Value> = c
        .list()
        .into_iter()
        .map(|(n, a)| json!({"ApplicationName": n, "ApplicationARN": a.arn, "ApplicationStatus": a.status}))
        .collect();
    Ok(json!({"ApplicationSummaries": items, "HasMoreApplications": false}))
}

fn in_use(name: &str, status: &str, want: &str) -> ApiError {
    err(
        "ResourceInUseException",
        format!("Application {name} is in {status} state; it must be {want} for this operation"),
    )
}

fn start(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let configs = req(input, "InputConfigurations")?
        .as_array()
        .cloned()
        .unwrap_or_default();
    let starting = c.config.timing.starting;
    let app = c.get(name)?;
    if app.status != "READY" {
        return Err(in_use(name, app.status, "READY"));
    }
    let inputs = app
        .detail
        .get("InputDescriptions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.is_empty() {
        return Err(err(
            "InvalidApplicationConfigurationException",
            format!("Application {name} has no input to start with; add an input first"),
        ));
    }
    let mut positions = Vec::new();
    for conf in &configs {
        let id = req_str(conf, "Id")?;
        let pos = req(conf, "InputStartingPositionConfiguration")?;
        let p = pos
            .get("InputStartingPosition")
            .and_then(Value::as_str)
            .unwrap_or("NOW");
        if !["NOW", "TRIM_HORIZON", "LAST_STOPPED_POINT"].contains(&p) {
            return Err(super::model::invalid(
                "inputStartingPositionConfiguration.inputStartingPosition",
                "Member must satisfy enum value set: [NOW, TRIM_HORIZON, LAST_STOPPED_POINT]",
            ));
        }
        if !inputs.iter().any(|i| i["InputId"] == id) {
            return Err(err(
                "InvalidArgumentException",
                format!("Application {name} has no input with id {id}"),
            ));
        }
        positions.push((id.to_string(), p.to_string()));
    }
    if positions.is_empty() {
        return Err(super::model::invalid(
            "inputConfigurations",
            "Member must have length greater than or equal to 1",
        ));
    }
    if let Some(Value::Array(list)) = app.detail.get_mut("InputDescriptions") {
        for i in list.iter_mut() {
            if let Some((_, p)) = positions.iter().find(|(id, _)| i["InputId"] == id.as_str()) {
                i["InputStartingPositionConfiguration"] = json!({"InputStartingPosition": p});
            }
        }
    }
    app.transition("STARTING", starting, Some("RUNNING"));
    Ok(json!({}))
}

fn stop(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let stopping = c.config.timing.stopping;
    let app = c.get(name)?;
    match app.status {
        "READY" => Ok(json!({})),
        "RUNNING" => {
            app.transition("STOPPING", stopping, Some("READY"));
            Ok(json!({}))
        }
        s => Err(in_use(name, s, "RUNNING")),
    }
}

/// Apply one of UpdateApplication's `InputUpdates` to the application's detail.
fn input_update(detail: &mut Map<String, Value>, name: &str, u: &Value) -> Res<()> {
    let id = req_str(u, "InputId")?;
    let list = detail
        .get_mut("InputDescriptions")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("ResourceNotFoundException", format!("no input {id}")))?;
    let Some(d) = list.iter_mut().find(|d| d["InputId"] == id) else {
        return Err(err(
            "ResourceNotFoundException",
            format!("Application {name} has no input with id {id}"),
        ));
    };
    if let Some(p) = u.get("NamePrefixUpdate").and_then(Value::as_str) {
        name_prefix(p)?;
        d["NamePrefix"] = json!(p);
        d["InAppStreamNames"] = json!([format!("{p}_001")]);
    }
    if let Some(k) = u.get("KinesisStreamsInputUpdate") {
        if let Some(a) = k.get("ResourceARNUpdate").and_then(Value::as_str) {
            check_arn("resourceARNUpdate", a)?;
            d["KinesisStreamsInputDescription"]["ResourceARN"] = json!(a);
        }
        if let Some(r) = k.get("RoleARNUpdate").and_then(Value::as_str) {
            check_arn("roleARNUpdate", r)?;
            d["KinesisStreamsInputDescription"]["RoleARN"] = json!(r);
        }
    }
    if let Some(s) = u.get("InputSchemaUpdate") {
        if let Some(f) = s.get("RecordFormatUpdate") {
            d["InputSchema"]["RecordFormat"] = record_format(f)?;
        }
        if let Some(e) = s.get("RecordEncodingUpdate") {
            d["InputSchema"]["RecordEncoding"] = e.clone();
        }
        if let Some(cols) = s.get("RecordColumnUpdates") {
            let mut probe = d["InputSchema"].clone();
            probe["RecordColumns"] = cols.clone();
            schema(&probe)?;
            d["InputSchema"]["RecordColumns"] = cols.clone();
        }
    }
    Ok(())
}

/// Apply one of UpdateApplication's `OutputUpdates` to the application's detail.
fn output_update(detail: &mut Map<String, Value>, name: &str, u: &Value) -> Res<()> {
    let id = req_str(u, "OutputId")?;
    let list = detail
        .get_mut("OutputDescriptions")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| err("ResourceNotFoundException", format!("no output {id}")))?;
    let Some(d) = list.iter_mut().find(|d| d["OutputId"] == id) else {
        return Err(err(
            "ResourceNotFoundException",
            format!("Application {name} has no output with id {id}"),
        ));
    };
    if let Some(n) = u.get("NameUpdate").and_then(Value::as_str) {
        check_len("output.nameUpdate", n, 1, 32)?;
        d["Name"] = json!(n);
    }
    if let Some(k) = u.get("KinesisFirehoseOutputUpdate") {
        if let Some(a) = k.get("ResourceARNUpdate").and_then(Value::as_str) {
            check_arn("resourceARNUpdate", a)?;
            d["KinesisFirehoseOutputDescription"]["ResourceARN"] = json!(a);
        }
        if let Some(r) = k.get("RoleARNUpdate").and_then(Value::as_str) {
            check_arn("roleARNUpdate", r)?;
            d["KinesisFirehoseOutputDescription"]["RoleARN"] = json!(r);
        }
    }
    if let Some(s) = u.get("DestinationSchemaUpdate") {
        d["DestinationSchema"] = s.clone();
    }
    Ok(())
}

fn update(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let upd = req(input, "ApplicationUpdate")?.clone();
    let updating = c.config.timing.updating;
    let app = c.get(name)?;
    app.check_version(input.get("CurrentApplicationVersionId"))?;
    if app.status != "READY" && app.status != "RUNNING" {
        return Err(in_use(name, app.status, "READY or RUNNING"));
    }
    let mut detail = app.detail.clone();
    let mut changed = false;
    if let Some(code) = code(upd.get("ApplicationCodeUpdate"))? {
        detail.insert("ApplicationCode".into(), json!(code));
        changed = true;
    }
    for u in upd
        .get("InputUpdates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        input_update(&mut detail, name, u)?;
        changed = true;
    }
    for u in upd
        .get("OutputUpdates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        output_update(&mut detail, name, u)?;
        changed = true;
    }
    if !changed {
        return Err(err(
            "InvalidArgumentException",
            "ApplicationUpdate must change something: give a code, input or output update",
        ));
    }
    app.detail = detail;
    app.bump();
    let back = app.status;
    app.transition("UPDATING", updating, Some(back));
    Ok(json!({}))
}

fn delete(c: &mut Call, input: &Value) -> Res<Value> {
    let name = req_str(input, "ApplicationName")?;
    let ts = req(input, "CreateTimestamp")?.clone();
    let deleting = c.config.timing.deleting;
    let app = c.get(name)?;
    app.check_created(&ts)?;
    match app.status {
        "READY" | "RUNNING" => {
            app.transition("DELETING", deleting, None);
            Ok(json!({}))
        }
        s => Err(in_use(name, s, "READY or RUNNING")),
    }
}

/// Words Kinesis Analytics does not accept as column names; discovery prefixes them with `COL_`.
const RESERVED: &[&str] = &[
    "timestamp",
    "time",
    "date",
    "value",
    "values",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "user",
    "position",
    "count",
    "key",
    "min",
    "max",
    "avg",
    "sum",
    "order",
    "group",
    "table",
    "stream",
    "rowtime",
    "window",
    "interval",
    "select",
    "from",
    "where",
];

fn sql_type(values: &[&Value]) -> String {
    if values.iter().all(|v| v.is_boolean()) {
        return "BOOLEAN".into();
    }
    if values.iter().all(|v| v.is_i64() || v.is_u64()) {
        let big = values.iter().any(|v| {
            v.as_i64()
                .is_none_or(|n| n > i32::MAX as i64 || n < i32::MIN as i64)
        });
        return if big { "BIGINT" } else { "INTEGER" }.into();
    }
    if values.iter().all(|v| v.is_number()) {
        return "DOUBLE".into();
    }
    let longest = values
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::len)
                .unwrap_or_else(|| v.to_string().len())
        })
        .max()
        .unwrap_or(1);
    format!("VARCHAR({})", longest.max(4).next_power_of_two())
}

/// A record as a JSON object with its keys in the order written.
pub type Record = indexmap::IndexMap<String, Value>;

/// Infer a JSON input schema from sample records: the union of top-level keys in the
/// order first seen, each with the narrowest SQL type that fits every value.
pub fn infer_schema(records: &[Record]) -> Option<Value> {
    let mut keys: Vec<&String> = Vec::new();
    for r in records {
        for k in r.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    if keys.is_empty() {
        return None;
    }
    let cols: Vec<Value> = keys
        .iter()
        .map(|k| {
            let vals: Vec<&Value> = records
                .iter()
                .filter_map(|r| r.get(*k))
                .filter(|v| !v.is_null())
                .collect();
            let name = if RESERVED.contains(&k.to_ascii_lowercase().as_str()) {
                format!("COL_{k}")
            } else {
                k.to_string()
            };
            json!({"Name": name, "Mapping": format!("$.{k}"), "SqlType": sql_type(&vals)})
        })
        .collect();
    Some(json!({
        "RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
        "RecordEncoding": "UTF-8",
        "RecordColumns": cols,
    }))
}

/// DiscoverInputSchema: read up to 100 of the stream's records from the Kinesis
/// emulator and infer their schema.
pub(super) async fn discover(config: &Config, region: &str, input: &Value) -> Res<Value> {
    let arn = req_str(input, "ResourceARN")?;
    check_arn("resourceARN", arn)?;
    check_arn("roleARN", req_str(input, "RoleARN")?)?;
    let Some(stream) = arn.split(":stream/").nth(1) else {
        return Err(err(
            "InvalidArgumentException",
            "the labctl emulator discovers schemas of Kinesis streams only",
        ));
    };
    let Some(endpoint) = &config.kinesis_endpoint else {
        return Err(err(
            "UnsupportedOperationException",
            "the labctl emulator has no Kinesis endpoint to read sample records from",
        ));
    };
    let raw = sample(endpoint, region, stream)
        .await
        .map_err(|m| err("ResourceProvisionedThroughputExceededException", m))?;
    let parsed: Vec<Record> = raw
        .iter()
        .filter_map(|r| serde_json::from_str::<Record>(r).ok())
        .collect();
    match infer_schema(&parsed) {
        Some(schema) => {
            let rows: Vec<Vec<String>> = parsed
                .iter()
                .map(|r| {
                    schema["RecordColumns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            let key = c["Mapping"].as_str().unwrap_or("$.").trim_start_matches("$.");
                            match r.get(key) {
                                Some(Value::String(s)) => s.clone(),
                                Some(v) => v.to_string(),
                                None => String::new(),
                            }
                        })
                        .collect()
                })
                .collect();
            Ok(json!({"InputSchema": schema, "ParsedInputRecords": rows, "RawInputRecords": raw}))
        }
        None => Err(ApiError {
            kind: "UnableToDetectSchemaException",
            message: format!(
                "Unable to detect a schema: stream {stream} has {} records and none is a JSON object; send some records and try again",
                raw.len()
            ),
            status: 400,
        }),
    }
}

async fn sample(endpoint: &str, region: &str, stream: &str) -> Result<Vec<String>, String> {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
            "labctl-emulator",
            "labctl-emulator",
            None,
            None,
            "labctl-emulator",
        ))
        .build();
    let k = aws_sdk_kinesis::Client::from_conf(conf);
    let shards = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| format!("cannot list the shards of {stream}: {e}"))?;
    let mut out = Vec::new();
    for s in shards.shards() {
        let it = k
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(s.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| format!("cannot read {stream}: {e}"))?;
        let Some(it) = it.shard_iterator() else {
            continue;
        };
        let recs = k
            .get_records()
            .shard_iterator(it)
            .limit(100)
            .send()
            .await
            .map_err(|e| format!("cannot read {stream}: {e}"))?;
        for r in recs.records() {
            out.push(String::from_utf8_lossy(r.data().as_ref()).into_owned());
        }
    }
    let skip = out.len().saturating_sub(100);
    Ok(out.split_off(skip))
}

#[cfg(test)]
mod tests {
    use super::super::{call, test_emulator, Api, Timing};
    use super::*;
    use std::time::Duration;

    const T: &str = "KinesisAnalytics_20150814.";

    fn app() -> Value {
        json!({
            "ApplicationName": "a",
            "Inputs": [{
                "NamePrefix": "SOURCE_SQL_STREAM",
                "KinesisStreamsInput": {"ResourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "RoleARN": "arn:aws:iam::123456789012:role/r"},
                "InputSchema": {
                    "RecordFormat": {"RecordFormatType": "JSON", "MappingParameters": {"JSONMappingParameters": {"RecordRowPath": "$"}}},
                    "RecordColumns": [{"Name": "sensor_id", "Mapping": "$.sensor_id", "SqlType": "VARCHAR(16)"}]
                }
            }],
            "Outputs": [{
                "Name": "DESTINATION_SQL_STREAM",
                "KinesisFirehoseOutput": {"ResourceARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/p", "RoleARN": "arn:aws:iam::123456789012:role/r"},
                "DestinationSchema": {"RecordFormatType": "JSON"}
            }],
            "ApplicationCode": "SELECT 1"
        })
    }

    #[tokio::test]
    async fn life_cycle_with_versions_timestamps_and_states() {
        let e = test_emulator(Timing::uniform(Duration::from_millis(50)));
        let r = call(&e, &format!("{T}CreateApplication"), app()).await;
        assert_eq!(
            r.body["ApplicationSummary"]["ApplicationStatus"], "READY",
            "{r:?}"
        );
        let again = call(&e, &format!("{T}CreateApplication"), app()).await;
        assert_eq!(again.error_type.as_deref(), Some("ResourceInUseException"));

        let d = call(
            &e,
            &format!("{T}DescribeApplication"),
            json!({"ApplicationName": "a"}),
        )
        .await;
        let d = &d.body["ApplicationDetail"];
        assert_eq!(
            d["InputDescriptions"][0]["InAppStreamNames"][0],
            "SOURCE_SQL_STREAM_001"
        );
        assert_eq!(d["ApplicationVersionId"], 1);

        // Start needs the input's id.
        let bad = call(&e, &format!("{T}StartApplication"), json!({"ApplicationName": "a", "InputConfigurations": [{"Id": "9.9", "InputStartingPositionConfiguration": {"InputStartingPosition": "NOW"}}]})).await;
        assert_eq!(bad.error_type.as_deref(), Some("InvalidArgumentException"));
        let ok = call(&e, &format!("{T}StartApplication"), json!({"ApplicationName": "a", "InputConfigurations": [{"Id": "1.1", "InputStartingPositionConfiguration": {"InputStartingPosition": "TRIM_HORIZON"}}]})).await;
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("STARTING")
        );
        let twice = call(&e, &format!("{T}StartApplication"), json!({"ApplicationName": "a", "InputConfigurations": [{"Id": "1.1", "InputStartingPositionConfiguration": {}}]})).await;
        assert_eq!(twice.error_type.as_deref(), Some("ResourceInUseException"));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("RUNNING")
        );

        // Updates need the current version id.
        let stale = call(&e, &format!("{T}UpdateApplication"), json!({"ApplicationName": "a", "CurrentApplicationVersionId": 7, "ApplicationUpdate": {"ApplicationCodeUpdate": "SELECT 2"}})).await;
        assert_eq!(
            stale.error_type.as_deref(),
            Some("ConcurrentModificationException")
        );
        let missing = call(&e, &format!("{T}UpdateApplication"), json!({"ApplicationName": "a", "ApplicationUpdate": {"ApplicationCodeUpdate": "SELECT 2"}})).await;
        assert_eq!(
            missing.error_type.as_deref(),
            Some("InvalidArgumentException")
        );
        let upd = call(&e, &format!("{T}UpdateApplication"), json!({"ApplicationName": "a", "CurrentApplicationVersionId": 1, "ApplicationUpdate": {"ApplicationCodeUpdate": "SELECT 2"}})).await;
        assert_eq!(upd.status, 200, "{upd:?}");
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("UPDATING")
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let d = call(
            &e,
            &format!("{T}DescribeApplication"),
            json!({"ApplicationName": "a"}),
        )
        .await;
        let d = &d.body["ApplicationDetail"];
        assert_eq!(
            (
                d["ApplicationStatus"].as_str(),
                d["ApplicationVersionId"].as_i64(),
                d["ApplicationCode"].as_str()
            ),
            (Some("RUNNING"), Some(2), Some("SELECT 2"))
        );
        assert_eq!(
            d["InputDescriptions"][0]["InputStartingPositionConfiguration"]
                ["InputStartingPosition"],
            "TRIM_HORIZON"
        );

        // Delete needs the exact CreateTimestamp.
        let created = d["CreateTimestamp"].as_f64().expect("timestamp");
        let wrong = call(
            &e,
            &format!("{T}DeleteApplication"),
            json!({"ApplicationName": "a", "CreateTimestamp": created - 10.0}),
        )
        .await;
        assert_eq!(
            wrong.error_type.as_deref(),
            Some("InvalidArgumentException")
        );
        call(
            &e,
            &format!("{T}StopApplication"),
            json!({"ApplicationName": "a"}),
        )
        .await;
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("STOPPING")
        );
        let busy = call(
            &e,
            &format!("{T}DeleteApplication"),
            json!({"ApplicationName": "a", "CreateTimestamp": created}),
        )
        .await;
        assert_eq!(busy.error_type.as_deref(), Some("ResourceInUseException"));
        e.settle();
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("READY")
        );
        let del = call(
            &e,
            &format!("{T}DeleteApplication"),
            json!({"ApplicationName": "a", "CreateTimestamp": created}),
        )
        .await;
        assert_eq!(del.status, 200, "{del:?}");
        assert_eq!(
            e.status(Api::V1, "us-east-1", "a").as_deref(),
            Some("DELETING")
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let gone = call(
            &e,
            &format!("{T}DescribeApplication"),
            json!({"ApplicationName": "a"}),
        )
        .await;
        assert_eq!(
            gone.error_type.as_deref(),
            Some("ResourceNotFoundException")
        );
    }

    #[tokio::test]
    async fn required_fields_and_discontinuation() {
        let e = test_emulator(Timing::default());
        let r = call(&e, &format!("{T}CreateApplication"), json!({})).await;
        assert_eq!(r.error_type.as_deref(), Some("InvalidArgumentException"));
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("ApplicationName"),
            "{r:?}"
        );
        let mut no_schema = app();
        no_schema["Inputs"][0]
            .as_object_mut()
            .map(|o| o.remove("InputSchema"));
        let r = call(&e, &format!("{T}CreateApplication"), no_schema).await;
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("InputSchema"),
            "{r:?}"
        );
        let mut two = app();
        two["Inputs"][0]["KinesisFirehoseInput"] =
            json!({"ResourceARN": "arn:x", "RoleARN": "arn:y"});
        let r = call(&e, &format!("{T}CreateApplication"), two).await;
        assert_eq!(r.error_type.as_deref(), Some("InvalidArgumentException"));
        e.set_sql_discontinued(true);
        let r = call(&e, &format!("{T}CreateApplication"), app()).await;
        assert_eq!(
            r.error_type.as_deref(),
            Some("UnsupportedOperationException")
        );
        assert_eq!(e.status(Api::V1, "us-east-1", "a"), None);
    }

    #[test]
    fn infers_the_sensor_schema() {
        let recs: Vec<Record> = [
            r#"{"sensor_id": "sensor-001", "timestamp": "2026-01-01T00:00:00.123Z", "temperature": 21.5, "humidity": 40, "pressure": 1000.25, "ok": true}"#,
            r#"{"sensor_id": "sensor-002", "timestamp": "2026-01-01T00:00:01.456Z", "temperature": 20, "humidity": 41.5, "pressure": 999, "ok": false}"#,
        ]
        .iter()
        .map(|r| serde_json::from_str(r).expect("record"))
        .collect();
        let s = infer_schema(&recs).expect("schema");
        let cols: Vec<(String, String, String)> = s["RecordColumns"]
            .as_array()
            .expect("cols")
            .iter()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap_or("").into(),
                    c["Mapping"].as_str().unwrap_or("").into(),
                    c["SqlType"].as_str().unwrap_or("").into(),
                )
            })
            .collect();
        let want = [
            ("sensor_id", "$.sensor_id", "VARCHAR(16)"),
            ("COL_timestamp", "$.timestamp", "VARCHAR(32)"),
            ("temperature", "$.temperature", "DOUBLE"),
            ("humidity", "$.humidity", "DOUBLE"),
            ("pressure", "$.pressure", "DOUBLE"),
            ("ok", "$.ok", "BOOLEAN"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(cols, want);
        assert!(infer_schema(&[]).is_none());
    }
}
