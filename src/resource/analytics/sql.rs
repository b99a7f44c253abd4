//! A Kinesis Data Analytics for SQL application (v1; the lab's step 5 as written): the
//! lab's stream as its one input (in-application prefix, JSON columns declared in the
//! spec or discovered), the SQL file as its code, `DESTINATION_SQL_STREAM` to the
//! processed delivery stream as JSON, the analytics role. `up` creates and starts it
//! (or applies changes with the current version id); `down` stops and deletes it.
//! AWS no longer creates SQL applications: that refusal becomes one paragraph naming
//! the spec change to the Flink engine.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_sdk_kinesisanalytics::primitives::DateTime;
use aws_sdk_kinesisanalytics::types::{
    ApplicationUpdate, DestinationSchema, Input, InputConfiguration, InputSchemaUpdate,
    InputStartingPosition, InputStartingPositionConfiguration, InputUpdate, JsonMappingParameters,
    KinesisFirehoseOutput, KinesisFirehoseOutputUpdate, KinesisStreamsInput,
    KinesisStreamsInputUpdate, MappingParameters, Output, OutputUpdate, RecordColumn, RecordFormat,
    RecordFormatType, SourceSchema, Tag,
};
use indexmap::IndexMap;

use super::{
    discontinued_message, is_discontinued, transient, with_iam_retry, GONE_WAIT, RUNNING_WAIT,
    SETTLE_WAIT, STOP_WAIT,
};
use crate::engine::refusals;
use crate::engine::wait::{self, Poll};
use crate::resource::model::{
    aws_err, check_found_on_create, sdk_code, tag_drift, tags_for, Ctx, Drift, Observed, Ownership,
    Present, Resource,
};
use crate::resource::policy;
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{ApplicationSpec, InputSchema, SchemaColumn, Spec, StartingPosition};

/// The class of create AWS refuses for a whole account and region (see
/// [`crate::engine::refusals`]): a new SQL application.
pub const REFUSAL_CLASS: &str = "sql-application";

/// The in-application output stream the SQL writes to.
pub const OUTPUT_NAME: &str = "DESTINATION_SQL_STREAM";

/// The lab's sensor record, the schema when the spec declares none.
pub fn lab_schema() -> InputSchema {
    let col = |name: &str, sql_type: &str, key: &str| SchemaColumn {
        name: name.into(),
        sql_type: sql_type.into(),
        mapping: Some(format!("$.{key}")),
    };
    InputSchema {
        discover: false,
        record_row_path: "$".into(),
        columns: vec![
            col("sensor_id", "VARCHAR(16)", "sensor_id"),
            col("COL_timestamp", "VARCHAR(32)", "timestamp"),
            col("temperature", "DOUBLE", "temperature"),
            col("humidity", "DOUBLE", "humidity"),
            col("pressure", "DOUBLE", "pressure"),
        ],
    }
}

pub struct SqlApp {
    id: String,
    name: String,
    role_arn: String,
    stream_arn: String,
    delivery_arn: String,
    name_prefix: String,
    position: InputStartingPosition,
    schema: InputSchema,
    code_path: String,
    tags: IndexMap<String, String>,
}

/// What DescribeApplication says, reduced to what labctl compares and needs.
#[derive(Debug)]
struct Seen {
    status: String,
    version: i64,
    created: Option<DateTime>,
    arn: String,
    input_id: Option<String>,
    output_id: Option<String>,
    fields: Vec<(&'static str, String)>,
}

fn columns_text(cols: &[SchemaColumn]) -> String {
    cols.iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c.name,
                c.sql_type,
                c.mapping.clone().unwrap_or_else(|| format!("$.{}", c.name))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlApp {
    /// The application's input (the stream, with the schema of the spec's columns) and
    /// output (the delivery stream, JSON), as CreateApplication takes them.
    async fn input_output(&self, ctx: &Ctx) -> Result<(Input, Output)> {
        let columns = self.columns(ctx).await?;
        let input = Input::builder()
            .name_prefix(&self.name_prefix)
            .kinesis_streams_input(
                KinesisStreamsInput::builder()
                    .resource_arn(&self.stream_arn)
                    .role_arn(&self.role_arn)
                    .build()?,
            )
            .input_schema(
                SourceSchema::builder()
                    .record_format(self.record_format()?)
                    .record_encoding("UTF-8")
                    .set_record_columns(Some(columns))
                    .build()?,
            )
            .build()?;
        let output = Output::builder()
            .name(OUTPUT_NAME)
            .kinesis_firehose_output(
                KinesisFirehoseOutput::builder()
                    .resource_arn(&self.delivery_arn)
                    .role_arn(&self.role_arn)
                    .build()?,
            )
            .destination_schema(
                DestinationSchema::builder()
                    .record_format_type(RecordFormatType::Json)
                    .build()?,
            )
            .build()?;
        Ok((input, output))
    }

    pub fn new(spec: &Spec, id: &str, a: &ApplicationSpec, vars: &Vars) -> SqlApp {
        SqlApp {
            id: id.to_string(),
            name: a.name.clone(),
            role_arn: spec
                .roles
                .get(&a.role)
                .map(|r| policy::role_arn(vars, &r.name))
                .unwrap_or_default(),
            stream_arn: spec
                .streams
                .get(&a.input.stream)
                .map(|s| policy::stream_arn(vars, &s.name))
                .unwrap_or_default(),
            delivery_arn: spec
                .delivery_streams
                .get(&a.output.delivery_stream)
                .map(|d| policy::delivery_arn(vars, &d.name))
                .unwrap_or_default(),
            name_prefix: a.input.name_prefix.clone(),
            position: match a.input.starting_position {
                StartingPosition::Now => InputStartingPosition::Now,
                StartingPosition::TrimHorizon => InputStartingPosition::TrimHorizon,
                StartingPosition::LastStoppedPoint => InputStartingPosition::LastStoppedPoint,
            },
            schema: a.input.schema.clone().unwrap_or_else(lab_schema),
            code_path: a.code.clone(),
            tags: tags_for(spec, &a.tags),
        }
    }

    fn code(&self) -> Result<String> {
        std::fs::read_to_string(&self.code_path).with_context(|| {
            format!(
                "cannot read the application code {}; check `applications.{}.code`",
                self.code_path, self.id
            )
        })
    }

    fn desired_fields(&self, code: &str) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("code", code.to_string()),
            ("input.stream", self.stream_arn.clone()),
            ("input.role", self.role_arn.clone()),
            ("input.name_prefix", self.name_prefix.clone()),
            ("input.format", "JSON".into()),
        ];
        if !self.schema.discover {
            f.push(("input.schema", columns_text(&self.schema.columns)));
        }
        f.extend([
            ("output.name", OUTPUT_NAME.to_string()),
            ("output.delivery_stream", self.delivery_arn.clone()),
            ("output.role", self.role_arn.clone()),
            ("output.format", "JSON".into()),
        ]);
        f
    }

    async fn describe(&self, ctx: &Ctx) -> Result<Option<Seen>> {
        let out = match ctx
            .aws
            .kinesisanalytics
            .describe_application()
            .application_name(&self.name)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(aws_err(&format!("describing application {}", self.name), e)),
        };
        let Some(d) = out.application_detail() else {
            bail!("Kinesis Analytics described {} without a detail", self.name)
        };
        let input = d.input_descriptions().first();
        let output = d
            .output_descriptions()
            .iter()
            .find(|o| o.name() == Some(OUTPUT_NAME))
            .or(d.output_descriptions().first());
        let fields = self.seen_fields(d, input, output);
        Ok(Some(Seen {
            status: d.application_status().as_str().to_string(),
            version: d.application_version_id(),
            created: d.create_timestamp().cloned(),
            arn: d.application_arn().to_string(),
            input_id: input.and_then(|i| i.input_id()).map(str::to_string),
            output_id: output.and_then(|o| o.output_id()).map(str::to_string),
            fields,
        }))
    }

    async fn tags(&self, ctx: &Ctx, arn: &str) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .kinesisanalytics
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of application {}", self.name), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
            .collect())
    }

    fn sdk_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    /// Wait until no transition is under way; None when the application is gone.
    async fn settled(&self, ctx: &Ctx, what: &str) -> Result<Option<Seen>> {
        wait::until(&ctx.progress, &self.name, what, SETTLE_WAIT, || async {
            Ok(match self.describe(ctx).await? {
                Some(s) if transient(&s.status) => Poll::Pending(s.status),
                other => Poll::Ready(other),
            })
        })
        .await
    }

    async fn wait_for(
        &self,
        ctx: &Ctx,
        status: &str,
        bound: crate::engine::wait::Bound,
    ) -> Result<()> {
        wait::until(
            &ctx.progress,
            &self.name,
            &format!("the application to be {status}"),
            bound,
            || async {
                Ok(match self.describe(ctx).await? {
                    Some(s) if s.status == status => Poll::Ready(()),
                    Some(s) => Poll::Pending(s.status),
                    None => bail!(
                        "application {} disappeared while labctl waited for {status}; run `labctl up` again",
                        self.name
                    ),
                })
            },
        )
        .await
    }

    async fn columns(&self, ctx: &Ctx) -> Result<Vec<RecordColumn>> {
        let cols = if self.schema.discover {
            ctx.progress.step(
                &self.name,
                "discovering the input schema from the stream's records",
            );
            let out = ctx
                .aws
                .kinesisanalytics
                .discover_input_schema()
                .resource_arn(&self.stream_arn)
                .role_arn(&self.role_arn)
                .input_starting_position_configuration(
                    InputStartingPositionConfiguration::builder()
                        .input_starting_position(InputStartingPosition::TrimHorizon)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    let m = crate::aws::errors::sdk_message(&e);
                    anyhow::anyhow!("discovering the input schema of {}: {m}; send records first (`labctl produce`), or declare `input.schema.columns` in the spec", self.name)
                })?;
            out.input_schema()
                .map(|s| s.record_columns().to_vec())
                .unwrap_or_default()
        } else {
            self.schema
                .columns
                .iter()
                .map(|c| {
                    RecordColumn::builder()
                        .name(&c.name)
                        .sql_type(&c.sql_type)
                        .mapping(c.mapping.clone().unwrap_or_else(|| format!("$.{}", c.name)))
                        .build()
                        .context("building a record column")
                })
                .collect::<Result<Vec<_>>>()?
        };
        if cols.is_empty() {
            bail!(
                "application {} would have no input columns; declare `input.schema.columns`",
                self.name
            );
        }
        Ok(cols)
    }

    fn record_format(&self) -> Result<RecordFormat> {
        RecordFormat::builder()
            .record_format_type(RecordFormatType::Json)
            .mapping_parameters(
                MappingParameters::builder()
                    .json_mapping_parameters(
                        JsonMappingParameters::builder()
                            .record_row_path(&self.schema.record_row_path)
                            .build()?,
                    )
                    .build(),
            )
            .build()
            .context("building the record format")
    }

    async fn start(&self, ctx: &Ctx, seen: &Seen) -> Result<()> {
        let Some(id) = &seen.input_id else {
            bail!("application {} has no input to start; run `labctl down` and `labctl up` to recreate it", self.name)
        };
        ctx.progress.step(
            &self.name,
            &format!("starting (input position {})", self.position.as_str()),
        );
        ctx.aws
            .kinesisanalytics
            .start_application()
            .application_name(&self.name)
            .input_configurations(
                InputConfiguration::builder()
                    .id(id)
                    .input_starting_position_configuration(
                        InputStartingPositionConfiguration::builder()
                            .input_starting_position(self.position.clone())
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| aws_err(&format!("starting application {}", self.name), e))?;
        self.wait_for(ctx, "RUNNING", RUNNING_WAIT).await
    }

    /// What `describe` compares of an application: its code, input and output.
    fn seen_fields(
        &self,
        d: &aws_sdk_kinesisanalytics::types::ApplicationDetail,
        input: Option<&aws_sdk_kinesisanalytics::types::InputDescription>,
        output: Option<&aws_sdk_kinesisanalytics::types::OutputDescription>,
    ) -> Vec<(&'static str, String)> {
        let ks = input.and_then(|i| i.kinesis_streams_input_description());
        let schema = input.and_then(|i| i.input_schema());
        let fh = output.and_then(|o| o.kinesis_firehose_output_description());
        let cols: Vec<SchemaColumn> = schema
            .map(|s| {
                s.record_columns()
                    .iter()
                    .map(|c| SchemaColumn {
                        name: c.name().to_string(),
                        sql_type: c.sql_type().to_string(),
                        mapping: c.mapping().map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut fields = vec![
            ("code", d.application_code().unwrap_or("").to_string()),
            (
                "input.stream",
                ks.map(|k| k.resource_arn().unwrap_or("").to_string())
                    .unwrap_or_else(|| "(none)".into()),
            ),
            (
                "input.role",
                ks.and_then(|k| k.role_arn()).unwrap_or("").to_string(),
            ),
            (
                "input.name_prefix",
                input
                    .and_then(|i| i.name_prefix())
                    .unwrap_or("")
                    .to_string(),
            ),
            (
                "input.format",
                schema
                    .and_then(|s| s.record_format())
                    .map(|f| f.record_format_type().as_str().to_string())
                    .unwrap_or_default(),
            ),
        ];
        if !self.schema.discover {
            fields.push(("input.schema", columns_text(&cols)));
        }
        fields.extend([
            (
                "output.name",
                output.and_then(|o| o.name()).unwrap_or("").to_string(),
            ),
            (
                "output.delivery_stream",
                fh.and_then(|f| f.resource_arn())
                    .unwrap_or("(none)")
                    .to_string(),
            ),
            (
                "output.role",
                fh.and_then(|f| f.role_arn()).unwrap_or("").to_string(),
            ),
            (
                "output.format",
                output
                    .and_then(|o| o.destination_schema())
                    .map(|s| s.record_format_type().as_str().to_string())
                    .unwrap_or_default(),
            ),
        ]);
        fields
    }

    /// The update for the drifted `fields`: code, input, output.
    async fn application_update(
        &self,
        ctx: &Ctx,
        seen: &Seen,
        fields: &[&str],
    ) -> Result<ApplicationUpdate> {
        let mut upd = ApplicationUpdate::builder();
        if fields.contains(&"code") {
            upd = upd.application_code_update(self.code()?);
        }
        if fields.iter().any(|f| f.starts_with("input.")) {
            let Some(id) = &seen.input_id else {
                bail!(
                    "application {} has no input to update; run `labctl down` then `labctl up`",
                    self.name
                )
            };
            upd = upd.input_updates(self.input_update(ctx, id).await?);
        }
        if fields.iter().any(|f| f.starts_with("output.")) {
            let Some(id) = &seen.output_id else {
                bail!(
                    "application {} has no output to update; run `labctl down` then `labctl up`",
                    self.name
                )
            };
            upd = upd.output_updates(self.output_update(id)?);
        }
        Ok(upd.build())
    }

    /// The input's update: stream, role, name prefix and schema.
    async fn input_update(&self, ctx: &Ctx, id: &str) -> Result<InputUpdate> {
        Ok(InputUpdate::builder()
            .input_id(id)
            .name_prefix_update(&self.name_prefix)
            .kinesis_streams_input_update(
                KinesisStreamsInputUpdate::builder()
                    .resource_arn_update(&self.stream_arn)
                    .role_arn_update(&self.role_arn)
                    .build(),
            )
            .input_schema_update(
                InputSchemaUpdate::builder()
                    .record_format_update(self.record_format()?)
                    .record_encoding_update("UTF-8")
                    .set_record_column_updates(Some(self.columns(ctx).await?))
                    .build(),
            )
            .build()?)
    }

    /// The output's update: the delivery stream, role and JSON format.
    fn output_update(&self, id: &str) -> Result<OutputUpdate> {
        Ok(OutputUpdate::builder()
            .output_id(id)
            .name_update(OUTPUT_NAME)
            .kinesis_firehose_output_update(
                KinesisFirehoseOutputUpdate::builder()
                    .resource_arn_update(&self.delivery_arn)
                    .role_arn_update(&self.role_arn)
                    .build(),
            )
            .destination_schema_update(
                DestinationSchema::builder()
                    .record_format_type(RecordFormatType::Json)
                    .build()?,
            )
            .build()?)
    }

    /// UpdateApplication at `version`, retried while IAM propagates a changed role.
    async fn send_update(&self, ctx: &Ctx, version: i64, upd: ApplicationUpdate) -> Result<()> {
        with_iam_retry(
            ctx,
            &self.name,
            &self.role_arn,
            "updating the application",
            || {
                let upd = upd.clone();
                async move {
                    ctx.aws
                        .kinesisanalytics
                        .update_application()
                        .application_name(&self.name)
                        .current_application_version_id(version)
                        .application_update(upd)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws_err(&format!("updating application {}", self.name), e))
                }
            },
        )
        .await
    }
}

impl SqlApp {
    /// AWS said SQL applications are discontinued: remember it for this account and
    /// region, so the next `plan` shows the create blocked and `up` refuses before its
    /// first change ([`refusals`]). A record that cannot be written is a warning: the
    /// create fails with AWS's message either way.
    fn remember_refusal(&self, ctx: &Ctx, aws_said: &str) {
        let r = refusals::Refusal {
            class: REFUSAL_CLASS.into(),
            what: "SQL applications (Kinesis Data Analytics for SQL)".into(),
            account: ctx.account().into(),
            region: ctx.region().into(),
            at: refusals::now(),
            aws_said: aws_said.into(),
            remedy: format!(
                "set `applications.{}.engine: flink` in the spec (and `code:` to a Flink SQL file) — see README",
                self.id
            ),
        };
        if let Err(e) = refusals::record(&ctx.journal, r) {
            tracing::warn!("{e:#}");
        }
    }
}

#[async_trait]
impl Resource for SqlApp {
    fn kind(&self) -> &'static str {
        "application"
    }
    fn name(&self) -> &str {
        &self.name
    }
    /// AWS refuses every new SQL application, in every account and region, since
    /// 2025-10-15 (Kinesis Data Analytics for SQL discontinuation, see
    /// /work/shared/AWS-NOTES.md and the Kinesis Data Analytics for SQL Developer Guide):
    /// once refused, a create is a step known to fail.
    fn refusal_class(&self) -> Option<&'static str> {
        Some(REFUSAL_CLASS)
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(seen) = self.describe(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx, &seen.arn).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new(seen.status.clone(), ownership.clone());
        p.arn = Some(seen.arn.clone());
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        let code = self.code()?;
        for ((field, want), (_, have)) in self.desired_fields(&code).iter().zip(&seen.fields) {
            if want != have {
                let shown = |s: &str| {
                    if *field == "code" {
                        format!("{} characters", s.len())
                    } else {
                        s.to_string()
                    }
                };
                p.drift.push(Drift::new(field, shown(have), shown(want)));
            }
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        if seen.status != "RUNNING" {
            p.drift.push(Drift::new("status", &seen.status, "RUNNING"));
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        let code = self.code()?;
        let (input, output) = self.input_output(ctx).await?;
        ctx.progress.step(&self.name, "creating SQL application");
        let existed = std::sync::atomic::AtomicBool::new(false);
        with_iam_retry(
            ctx,
            &self.name,
            &self.role_arn,
            "creating the application",
            || {
                let (input, output, code) = (input.clone(), output.clone(), code.clone());
                let existed = &existed;
                async move {
                    match ctx
                        .aws
                        .kinesisanalytics
                        .create_application()
                        .application_name(&self.name)
                        .application_description(format!(
                            "labctl pipeline {}: per-sensor one-minute aggregates",
                            ctx.pipeline()
                        ))
                        .inputs(input)
                        .outputs(output)
                        .application_code(code)
                        .set_tags(Some(self.sdk_tags()))
                        .send()
                        .await
                    {
                        Ok(_) => {
                            // AWS creates SQL applications here again: forget the refusal.
                            if let Err(e) = refusals::clear(
                                &ctx.journal,
                                ctx.account(),
                                ctx.region(),
                                REFUSAL_CLASS,
                            ) {
                                tracing::warn!("{e:#}");
                            }
                            Ok(())
                        }
                        // A retried create that went through, or someone's application
                        // made meanwhile: its tags tell, below.
                        Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                            existed.store(true, std::sync::atomic::Ordering::Relaxed);
                            Ok(())
                        }
                        Err(e) => {
                            let m = crate::aws::errors::sdk_message(&e);
                            if is_discontinued(&format!("{m} CreateApplication")) {
                                self.remember_refusal(ctx, &m);
                                bail!("{}", discontinued_message(&self.id, &self.name, &m));
                            }
                            bail!("creating application {}: {m}", self.name)
                        }
                    }
                }
            },
        )
        .await?;
        let Some(seen) = self.settled(ctx, "the new application to be READY").await? else {
            bail!(
                "application {} is not found right after creation; run `labctl up` again",
                self.name
            )
        };
        if existed.load(std::sync::atomic::Ordering::Relaxed) {
            // Tags given to CreateApplication are the create's own: ours only if they say so.
            let tags = self.tags(ctx, &seen.arn).await?;
            let owner = tags.get(OWNER_TAG).map(String::as_str);
            check_found_on_create(ctx, self.kind(), &self.name, owner)?;
        }
        self.start(ctx, &seen).await
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let Some(mut seen) = self
            .settled(ctx, "the application to finish its current transition")
            .await?
        else {
            return self.create(ctx).await;
        };
        let config: Vec<&Drift> = present
            .drift
            .iter()
            .filter(|d| d.field != "status" && d.field != "tags")
            .collect();
        if !config.is_empty() {
            let fields: Vec<&str> = config.iter().map(|d| d.field.as_str()).collect();
            ctx.progress.step(
                &self.name,
                &format!("updating {} (version {})", fields.join(", "), seen.version),
            );
            let upd = self.application_update(ctx, &seen, &fields).await?;
            self.send_update(ctx, seen.version, upd).await?;
            seen = match self.settled(ctx, "the update to finish").await? {
                Some(s) => s,
                None => bail!(
                    "application {} disappeared during its update; run `labctl up` again",
                    self.name
                ),
            };
        }
        if present.drift.iter().any(|d| d.field == "tags") {
            ctx.aws
                .kinesisanalytics
                .tag_resource()
                .resource_arn(&seen.arn)
                .set_tags(Some(self.sdk_tags()))
                .send()
                .await
                .map_err(|e| aws_err(&format!("tagging application {}", self.name), e))?;
        }
        if seen.status == "READY" {
            self.start(ctx, &seen).await?;
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        // Finish what is under way; an interrupted `down` left STOPPING ends here.
        let Some(mut seen) = self
            .settled(
                ctx,
                "the application to finish its current transition (READY or RUNNING)",
            )
            .await?
        else {
            return Ok(());
        };
        if seen.status == "RUNNING" {
            ctx.progress.step(&self.name, "stopping the application");
            ctx.aws
                .kinesisanalytics
                .stop_application()
                .application_name(&self.name)
                .send()
                .await
                .map_err(|e| aws_err(&format!("stopping application {}", self.name), e))?;
            self.wait_for(ctx, "READY", STOP_WAIT).await?;
            seen = match self.describe(ctx).await? {
                Some(s) => s,
                None => return Ok(()),
            };
        }
        let Some(created) = seen.created else {
            bail!("Kinesis Analytics gave no CreateTimestamp for {}, which deletion needs; delete it in the console", self.name)
        };
        ctx.progress.step(&self.name, "deleting the application");
        match ctx
            .aws
            .kinesisanalytics
            .delete_application()
            .application_name(&self.name)
            .create_timestamp(created)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => return Ok(()),
            // A retried delete whose first attempt went through (its answer was lost):
            // accepted if the application now reads DELETING or is gone.
            Err(e) if sdk_code(&e) == Some("ResourceInUseException") => {
                match self.describe(ctx).await? {
                    None => return Ok(()),
                    Some(s) if s.status == "DELETING" => {}
                    Some(_) => {
                        return Err(aws_err(&format!("deleting application {}", self.name), e))
                    }
                }
            }
            Err(e) => return Err(aws_err(&format!("deleting application {}", self.name), e)),
        }
        wait::until(
            &ctx.progress,
            &self.name,
            "the application to be gone",
            GONE_WAIT,
            || async {
                Ok(match self.describe(ctx).await? {
                    None => Poll::Ready(()),
                    Some(s) => Poll::Pending(s.status),
                })
            },
        )
        .await
    }
}
