//! The command line: flags, the commands, and how each maps to spec loading,
//! the AWS connection, the engine and the report. Returns the process exit code.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::aws::{self, Target};
use crate::engine;
use crate::error::{exit, SpecError, SpecErrors, UsageError};
use crate::progress::Progress;
use crate::report::{self, Format, Report};
use crate::resource::{self, Ctx};
use crate::spec::validate::bucket_name_problem;
use crate::spec::vars::Vars;
use crate::spec::{self, LoadedSpec};

#[derive(Debug, Parser)]
#[command(
    name = "labctl",
    version,
    about = "Provision, check and remove the Kinesis streaming lab pipeline from one spec file"
)]
pub struct Cli {
    /// The pipeline spec.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "pipeline.yaml"
    )]
    pub file: PathBuf,
    /// AWS profile from ~/.aws/config.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (overrides the spec's `region:`).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send every request to this endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Use the local AWS stack (scripts/local-stack) with test credentials.
    #[arg(long, global = true)]
    pub local: bool,
    /// Result format on stdout.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub output: Format,
    /// More logging on stderr: -v for labctl's steps, -vv for AWS requests.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// `plan`/`up`: take over resources that have the spec's names but no ownership tag,
    /// after saying exactly what will change (never ones tagged for another pipeline).
    #[arg(long, global = true)]
    pub adopt: bool,
    /// No progress lines on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the spec: types, names, ranges, references, files. No AWS call.
    Validate,
    /// Print the dependency graph as Mermaid (or DOT with --dot). No AWS call.
    Graph {
        /// Graphviz DOT instead of Mermaid.
        #[arg(long)]
        dot: bool,
    },
    /// Show what `up` would do to each resource, in execution order. Changes nothing.
    Plan,
    /// Create or update every resource, dependencies first, independent ones concurrently.
    Up,
    /// Show each resource: exists, state, drift, the lab's data-flow checks and cost.
    /// Exit 0 only when all match the spec and no check fails.
    Status {
        /// Redraw every --interval seconds, with sparklines of the last 30 minutes.
        #[arg(long)]
        watch: bool,
        /// Seconds between redraws with --watch (2-3600).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=3600))]
        interval: u64,
    },
    /// Delete every resource the pipeline owns, dependents first, and wait until gone.
    Down {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Find every resource any labctl pipeline created (the ownership tag), with its
    /// pipeline, age and hourly cost; `--delete` removes them. Needs no spec file.
    Leftovers {
        /// Search every commercial region, not only the current one.
        #[arg(long)]
        all_regions: bool,
        /// Only this pipeline's resources.
        #[arg(long)]
        pipeline: Option<String>,
        /// Remove what was found, dependents first, after confirmation.
        #[arg(long)]
        delete: bool,
        /// Do not ask for confirmation (with --delete).
        #[arg(long)]
        yes: bool,
    },
    /// Send simulated sensor readings to the stream (the lab's producer).
    Produce(crate::produce::ProduceArgs),
    /// Read the stream's records as they arrive, every shard, across resharding.
    Tail(crate::tail::TailArgs),
}

impl Command {
    fn word(&self) -> &'static str {
        match self {
            Command::Validate => "validate",
            Command::Graph { .. } => "graph",
            Command::Plan => "plan",
            Command::Up => "up",
            Command::Status { .. } => "status",
            Command::Down { .. } => "down",
            Command::Leftovers { .. } => "leftovers",
            Command::Produce(_) => "produce",
            Command::Tail(_) => "tail",
        }
    }
}

/// Set up logging on stderr per `-v`.
pub fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => "warn",
        1 => "labctl=debug,warn",
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

fn print_spec_errors(errors: &SpecErrors, format: Format) {
    if format == Format::Json {
        let doc = serde_json::json!({"ok": false, "errors": errors.0});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    eprintln!("{errors}");
}

/// Run the parsed command line; the result is the exit code.
pub async fn run(cli: Cli) -> i32 {
    if let Command::Status {
        watch: true,
        interval,
    } = cli.command
    {
        return watch(&cli, interval).await;
    }
    run_once(&cli).await
}

/// `status --watch`: redraw until Ctrl-C; the exit code is the last status's.
async fn watch(cli: &Cli, interval: u64) -> i32 {
    let terminal = std::io::stdout().is_terminal();
    loop {
        if terminal {
            print!("\x1b[H\x1b[2J");
        }
        let code = run_once(cli).await;
        if code == exit::BAD_INPUT {
            return code;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
            _ = tokio::signal::ctrl_c() => return code,
        }
        if !terminal {
            println!();
        }
    }
}

async fn run_once(cli: &Cli) -> i32 {
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            if let Some(s) = e.downcast_ref::<SpecErrors>() {
                print_spec_errors(s, cli.output);
                return exit::BAD_INPUT;
            }
            if let Some(u) = e.downcast_ref::<UsageError>() {
                eprintln!("error: {u}");
                return exit::BAD_INPUT;
            }
            eprintln!("error: {e:#}");
            exit::FAILED
        }
    }
}

fn load(cli: &Cli) -> Result<LoadedSpec, SpecErrors> {
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

async fn run_inner(cli: &Cli) -> Result<i32> {
    match &cli.command {
        Command::Produce(a) => return crate::produce::run(cli, a).await,
        Command::Tail(a) => return crate::tail::run(cli, a).await,
        Command::Leftovers {
            all_regions,
            pipeline,
            delete,
            yes,
        } => return leftovers(cli, *all_regions, pipeline.as_deref(), *delete, *yes).await,
        _ => {}
    }
    let loaded = load(cli)?;
    let started = Instant::now();
    if let Command::Graph { dot } = cli.command {
        // Variables stay as written: the graph needs no account or region.
        let vars = Vars {
            account_id: "${account_id}".into(),
            region: cli
                .region
                .clone()
                .or(loaded.spec.region.clone())
                .unwrap_or_else(|| "${region}".into()),
            partition: "${partition}".into(),
            pipeline: loaded.spec.pipeline.clone(),
        };
        let nodes = resource::build(&loaded.spec.resolve(&vars), &vars);
        print!(
            "{}",
            if dot {
                crate::diagram::dot(&nodes)
            } else {
                crate::diagram::mermaid(&nodes)
            }
        );
        return Ok(exit::OK);
    }
    if let Command::Validate = cli.command {
        let n = loaded.spec.ids().len();
        match cli.output {
            Format::Json => println!(
                "{}",
                serde_json::json!({"ok": true, "file": loaded.file.display().to_string(), "resources": n})
            ),
            Format::Table => println!(
                "{}: valid, {n} resources in pipeline `{}`",
                loaded.file.display(),
                loaded.spec.pipeline
            ),
        }
        return Ok(exit::OK);
    }
    if let Some(e) = &cli.endpoint_url {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(UsageError(format!(
                "--endpoint-url `{e}` must start with http:// or https://"
            ))
            .into());
        }
    }
    if let Command::Down { yes: false } = cli.command {
        confirm_down(&loaded)?;
    }
    let target = Target {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        local: cli.local,
    };
    let clients = aws::connect(&target, loaded.spec.region.as_deref()).await?;
    let account = aws::account_id(&clients).await?;
    let vars = Vars {
        partition: aws::partition(&clients.region).to_string(),
        region: clients.region.clone(),
        account_id: account.clone(),
        pipeline: loaded.spec.pipeline.clone(),
    };
    let resolved = loaded.spec.resolve(&vars).with_base_dir(&loaded.base_dir);
    // Names were checked with stand-in values; check them again with the real ones.
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
    if !late.is_empty() {
        return Err(SpecErrors(late).into());
    }
    let progress = Progress::new(cli.quiet);
    let endpoint = clients.endpoint.clone();
    let region = clients.region.clone();
    let journal = std::sync::Arc::new(crate::journal::Journal::open(
        &loaded.base_dir,
        &resolved.pipeline,
        &account,
        &region,
    ));
    let ctx = Ctx {
        aws: clients,
        vars,
        progress,
        journal,
        adopt: cli.adopt,
    };
    let nodes = resource::build(&resolved, &ctx.vars);
    let after_down = ctx.aws.clone();
    let sparkline_ctx = ctx.clone();
    let mut checks = Vec::new();
    let mut sensors = Vec::new();
    let (rows, interrupted, ok, code) = match cli.command {
        Command::Plan => {
            let rows = engine::plan(&nodes, &ctx).await;
            let ok = !rows.iter().any(|r| r.action == "failed");
            (rows, false, ok, if ok { exit::OK } else { exit::FAILED })
        }
        Command::Status { .. } => {
            let rows = engine::status(&nodes, &ctx).await;
            (checks, sensors) = crate::checks::run(&resolved, &ctx, &rows).await;
            let failing = checks
                .iter()
                .any(|c| c.outcome == crate::checks::Outcome::Fail);
            let ok = engine::status_ok(&rows) && !failing;
            let code = if rows.iter().any(|r| r.action == "failed") {
                exit::FAILED
            } else if ok {
                exit::OK
            } else {
                exit::DRIFT
            };
            (rows, false, ok, code)
        }
        Command::Up | Command::Down { .. } => {
            let (rows, interrupted) = if matches!(cli.command, Command::Up) {
                engine::up(nodes, ctx).await
            } else {
                engine::down(nodes, ctx).await
            };
            let ok = !interrupted && !rows.iter().any(|r| r.is_failure());
            (
                rows,
                interrupted,
                ok,
                if ok { exit::OK } else { exit::FAILED },
            )
        }
        Command::Validate
        | Command::Graph { .. }
        | Command::Produce(_)
        | Command::Tail(_)
        | Command::Leftovers { .. } => {
            unreachable!("handled above")
        }
    };
    let mut rows = rows;
    let cost = match cli.command {
        Command::Plan => Some(crate::cost::annotate(&resolved, &mut rows, &region, false)),
        Command::Status { .. } => Some(crate::cost::annotate(&resolved, &mut rows, &region, true)),
        _ => None,
    };
    // After a complete down, look for anything still tagged for the pipeline.
    let remaining = match cli.command {
        Command::Down { .. } if !interrupted => {
            match crate::leftovers::find(&after_down, Some(&resolved.pipeline), true).await {
                Ok(found) => Some(found),
                Err(e) => {
                    tracing::warn!("could not check for leftovers: {e:#}");
                    None
                }
            }
        }
        _ => None,
    };
    let report = Report {
        command: cli.command.word().to_string(),
        pipeline: resolved.pipeline.clone(),
        region,
        account,
        endpoint,
        ok,
        interrupted,
        seconds: started.elapsed().as_secs_f64(),
        resources: rows,
        checks,
        sensors,
        cost,
        remaining,
    };
    report::print(&report, cli.output);
    if let (Command::Status { watch: true, .. }, Format::Table) = (&cli.command, cli.output) {
        print!("{}", crate::watch::render(&resolved, &sparkline_ctx).await);
    }
    Ok(code)
}

fn confirm_down(loaded: &LoadedSpec) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError("`down` deletes every resource of the pipeline and their data; pass --yes to confirm (stdin is not a terminal, so labctl cannot ask)".into()).into());
    }
    eprint!(
        "Delete every resource of pipeline `{}` declared in {} (and the data in its bucket)? Type yes to go on: ",
        loaded.spec.pipeline,
        loaded.file.display()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != "yes" {
        return Err(UsageError("not confirmed; nothing was deleted".into()).into());
    }
    Ok(())
}

/// `labctl leftovers`: list (and with `--delete` remove) everything labctl created.
async fn leftovers(
    cli: &Cli,
    all_regions: bool,
    pipeline: Option<&str>,
    delete: bool,
    yes: bool,
) -> Result<i32> {
    if let Some(p) = pipeline {
        if p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(UsageError(format!(
                "--pipeline `{p}` is not a pipeline name (lowercase letters, digits, `-`)"
            ))
            .into());
        }
    }
    if delete && !yes && !std::io::stdin().is_terminal() {
        return Err(UsageError("`leftovers --delete` removes resources; pass --yes to confirm (stdin is not a terminal)".into()).into());
    }
    let base = Target {
        profile: cli.profile.clone(),
        region: cli.region.clone(),
        endpoint_url: cli.endpoint_url.clone(),
        local: cli.local,
    };
    let home = aws::connect(&base, None).await?;
    let account = aws::account_id(&home).await?;
    let mut regions = vec![home.clone()];
    if all_regions {
        for r in crate::leftovers::REGIONS
            .iter()
            .filter(|r| **r != home.region)
        {
            let t = Target {
                region: Some(r.to_string()),
                ..base.clone()
            };
            regions.push(aws::connect(&t, None).await?);
        }
    }
    let progress = Progress::new(cli.quiet);
    progress.step(
        "labctl",
        &format!(
            "searching {} region(s) for resources tagged {}",
            regions.len(),
            crate::spec::validate::OWNER_TAG
        ),
    );
    let clients: HashMap<String, aws::Clients> = regions
        .iter()
        .map(|c| (c.region.clone(), c.clone()))
        .collect();
    let (found, skipped) = crate::leftovers::find_in(regions, pipeline).await;
    for (r, why) in &skipped {
        progress.step(r, &format!("skipped: {why}"));
    }
    let per_hour: f64 = found.iter().fold(0.0, |a, f| a + f.usd_per_hour);
    let mut deleted: Vec<crate::engine::Row> = Vec::new();
    if delete && !found.is_empty() {
        if !yes {
            eprint!(
                "Delete these {} resources? Type yes to go on: ",
                found.len()
            );
            print_found(&found, per_hour);
            std::io::stderr().flush().ok();
            let mut answer = String::new();
            std::io::stdin()
                .read_line(&mut answer)
                .context("reading the confirmation")?;
            if answer.trim() != "yes" {
                return Err(UsageError("not confirmed; nothing was deleted".into()).into());
            }
        }
        // Per region (IAM roles go with the home region) and pipeline.
        let mut groups: BTreeMap<(String, String), Vec<&crate::leftovers::Found>> = BTreeMap::new();
        for f in &found {
            let region = if f.region == "global" {
                home.region.clone()
            } else {
                f.region.clone()
            };
            groups
                .entry((region, f.pipeline.clone()))
                .or_default()
                .push(f);
        }
        for ((region, p), items) in groups {
            let Some(c) = clients.get(&region) else {
                continue;
            };
            let vars = Vars {
                account_id: account.clone(),
                region: region.clone(),
                partition: aws::partition(&region).to_string(),
                pipeline: p.clone(),
            };
            let nodes = crate::leftovers::nodes_for(&items, &p, &vars)?;
            let journal = std::sync::Arc::new(crate::journal::Journal::open(
                &std::env::temp_dir(),
                &p,
                &account,
                &region,
            ));
            let ctx = Ctx {
                aws: c.clone(),
                vars,
                progress: progress.clone(),
                journal,
                adopt: false,
            };
            let (rows, _) = engine::down(nodes, ctx).await;
            deleted.extend(rows);
        }
    }
    let failed = deleted.iter().any(|r| r.is_failure());
    match cli.output {
        Format::Json => {
            let doc = serde_json::json!({
                "account": account,
                "resources": found,
                "usd_per_hour": per_hour,
                "skipped_regions": skipped.iter().map(|(r, w)| serde_json::json!({"region": r, "error": w})).collect::<Vec<_>>(),
                "deleted": deleted,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Table => {
            if found.is_empty() {
                println!(
                    "nothing tagged {} found{}",
                    crate::spec::validate::OWNER_TAG,
                    pipeline.map(|p| format!("={p}")).unwrap_or_default()
                );
            } else {
                print_found(&found, per_hour);
            }
            if !deleted.is_empty() {
                println!(
                    "\ndeleted {} of {}{}",
                    deleted
                        .iter()
                        .filter(|r| matches!(r.action.as_str(), "delete" | "absent"))
                        .count(),
                    found.len(),
                    if failed {
                        "; some failed, see above"
                    } else {
                        ""
                    }
                );
                for r in deleted.iter().filter(|r| r.is_failure()) {
                    println!(
                        "  {} {}: {}",
                        r.kind,
                        r.name,
                        r.detail.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn print_found(found: &[crate::leftovers::Found], per_hour: f64) {
    println!(
        "{:<12} {:<20} {:<16} {:<44} {:>8} {:>9}",
        "REGION", "PIPELINE", "KIND", "NAME", "AGE", "$/HOUR"
    );
    for f in found {
        let age = f
            .age_seconds
            .map(|s| {
                if s >= 86_400 {
                    format!("{}d", s / 86_400)
                } else if s >= 3600 {
                    format!("{}h", s / 3600)
                } else {
                    format!("{}m", s / 60)
                }
            })
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:<20} {:<16} {:<44} {:>8} {:>9.4}",
            f.region, f.pipeline, f.kind, f.name, age, f.usd_per_hour
        );
    }
    println!(
        "\n{} resources, ${per_hour:.3}/hour while they exist",
        found.len()
    );
}
