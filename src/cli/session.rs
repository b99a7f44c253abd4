//! What the pipeline commands share: logging setup, loading and checking the spec,
//! connecting and resolving it into the context the resources work in, the report at
//! the end, and turning errors into exit codes. Knows no particular command.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::args::Cli;
use crate::aws;
use crate::checks::{Check, SensorRow};
use crate::cost::Summary;
use crate::engine::executor::Row;
use crate::engine::journal::Journal;
use crate::engine::progress::Progress;
use crate::engine::report::{self, Format, Report};
use crate::error::{exit, SpecError, SpecErrors, UsageError};
use crate::resource::leftovers::Found;
use crate::resource::Ctx;
use crate::spec::validate::bucket_name_problem;
use crate::spec::vars::Vars;
use crate::spec::{self, LoadedSpec, Spec};

/// Set up logging on stderr per `-v`: nothing but labctl's own warnings by default
/// (`-q`: errors only), `-v` labctl's decisions, `-vv` also one line per AWS request
/// ([`crate::aws::requests`]) and the SDK's warnings, `-vvv` the SDK's debug lines.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let filter = match (verbose, quiet) {
        (0, true) => "labctl=error",
        (0, false) => "labctl=warn",
        (1, _) => "labctl=debug",
        (2, _) => "labctl=trace,warn",
        // Not the endpoint resolver's debug lines: they print the request's config
        // bag, whose identity holds the access key id (tests/secrets.rs).
        _ => "labctl=trace,aws_smithy_runtime=debug,aws_smithy_runtime::client::orchestrator::endpoints=info,aws_config=debug,info",
    };
    let env = tracing_subscriber::EnvFilter::try_from_env("LABCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

pub fn print_spec_errors(errors: &SpecErrors, format: Format) {
    if format == Format::Json {
        let doc = serde_json::json!({"ok": false, "errors": errors.0});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    eprintln!("{errors}");
}

/// A command's result as the process exit code: spec and usage errors are 2, any
/// other error 1, each printed on stderr.
pub fn exit_code(cli: &Cli, result: Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<SpecErrors>() {
                print_spec_errors(s, cli.output);
                return exit::BAD_INPUT;
            }
            let (code, message) = match e.downcast_ref::<UsageError>() {
                Some(u) => (exit::BAD_INPUT, u.to_string()),
                None => (exit::FAILED, format!("{e:#}")),
            };
            if cli.output == Format::Json {
                let doc = serde_json::json!({
                    "ok": false, "command": cli.command.word(),
                    "error": message, "exit_code": code,
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            eprintln!("error: {message}");
            code
        }
    }
}

/// The spec, parsed and validated (and `--region` checked), before any AWS call.
pub fn load(cli: &Cli) -> Result<LoadedSpec, SpecErrors> {
    let loaded = spec::load(&cli.file)?;
    spec::validate::validate(&loaded, cli.region.as_deref())?;
    if let Some(r) = &cli.region {
        if !r
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || r.is_empty()
        {
            return Err(SpecErrors(vec![SpecError {
                file: "--region".into(),
                line: None,
                column: None,
                path: String::new(),
                message: format!("`{r}` is not an AWS region name"),
                hint: "write a region such as `us-east-1`".into(),
            }]));
        }
    }
    Ok(loaded)
}

/// Refuse an `--endpoint-url` that is not http(s) before anything is sent.
pub fn check_endpoint(cli: &Cli) -> Result<()> {
    if let Some(e) = &cli.endpoint_url {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(UsageError(format!(
                "--endpoint-url `{e}` must start with http:// or https://"
            ))
            .into());
        }
    }
    Ok(())
}

/// A loaded spec connected to AWS: resolved with the real account and region, and the
/// context its resources work in.
pub struct Pipeline {
    pub resolved: Spec,
    pub ctx: Ctx,
    pub account: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub started: Instant,
}

/// Connect (STS for the account id), resolve the spec's variables, check the names
/// again with real values, and open the journal.
pub async fn open(cli: &Cli, loaded: &LoadedSpec) -> Result<Pipeline> {
    let started = Instant::now();
    check_endpoint(cli)?;
    let clients = aws::connect(&cli.target(), loaded.spec.region.as_deref()).await?;
    let account = aws::account_id_with(&clients, cli.quiet).await?;
    let vars = Vars {
        partition: aws::partition(&clients.region).to_string(),
        region: clients.region.clone(),
        account_id: account.clone(),
        pipeline: loaded.spec.pipeline.clone(),
    };
    let resolved = loaded.spec.resolve(&vars).with_base_dir(&loaded.base_dir);
    check_resolved_names(loaded, &resolved)?;
    let endpoint = clients.endpoint.clone();
    let region = clients.region.clone();
    let journal = Arc::new(Journal::open(
        &loaded.base_dir,
        &resolved.pipeline,
        &account,
        &region,
    )?);
    let ctx = Ctx {
        aws: clients,
        vars,
        progress: Progress::new(cli.quiet),
        journal,
        adopt: cli.adopt(),
        data_loss_confirmed: Vec::new(),
    };
    Ok(Pipeline {
        resolved,
        ctx,
        account,
        region,
        endpoint,
        started,
    })
}

/// Names were checked with stand-in values; check them again with the real ones.
fn check_resolved_names(loaded: &LoadedSpec, resolved: &Spec) -> Result<(), SpecErrors> {
    let mut late = Vec::new();
    for (id, b) in &resolved.buckets {
        if let Some(why) = bucket_name_problem(&b.name) {
            late.push(loaded.error(
                &format!("buckets.{id}.name"),
                format!("bucket name `{}` {why}", b.name),
                "change the name in the spec",
            ));
        }
    }
    if late.is_empty() {
        Ok(())
    } else {
        Err(SpecErrors(late))
    }
}

/// What a pipeline command found and did, for the report.
pub struct Outcome {
    pub rows: Vec<Row>,
    pub ok: bool,
    pub interrupted: bool,
    pub checks: Vec<Check>,
    pub sensors: Vec<SensorRow>,
    pub cost: Option<Summary>,
    pub remaining: Option<Vec<Found>>,
    /// `plan`: the counts of changes and the cost delta (its summary line).
    pub changes: Option<report::Changes>,
}

impl Outcome {
    /// Only rows; the rest empty (fill in with struct update syntax).
    pub fn rows(rows: Vec<Row>) -> Outcome {
        Outcome {
            rows,
            ok: false,
            interrupted: false,
            checks: Vec::new(),
            sensors: Vec::new(),
            cost: None,
            remaining: None,
            changes: None,
        }
    }
}

/// The report on stdout, as a table or JSON.
pub fn print_report(cli: &Cli, p: &Pipeline, o: Outcome) {
    report::print(&make_report(cli, p, o), cli.output);
}

/// The report of a pipeline command, to print or to draw (`status --watch`).
pub fn make_report(cli: &Cli, p: &Pipeline, o: Outcome) -> Report {
    Report {
        command: cli.command.word().to_string(),
        pipeline: p.resolved.pipeline.clone(),
        region: p.region.clone(),
        account: p.account.clone(),
        endpoint: p.endpoint.clone(),
        ok: o.ok,
        interrupted: o.interrupted,
        seconds: p.started.elapsed().as_secs_f64(),
        resources: o.rows,
        checks: o.checks,
        sensors: o.sensors,
        cost: o.cost,
        remaining: o.remaining,
        changes: o.changes,
    }
}
