//! The command line's shape: the global flags and the commands with their own flags.
//! Parsing only; knows nothing of what a command does (see the command modules).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::aws::Target;
use crate::engine::report::Format;
use crate::stream::flags::Session;
use crate::stream::produce::ProduceArgs;
use crate::stream::tail::TailArgs;

/// The help section of the flags every command takes.
const GLOBAL: &str = "Global options";

/// `--adopt`, on the commands it affects (`plan`, `up`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Adopt {
    /// Take over resources that have the spec's names but no ownership tag, after saying
    /// exactly what will change (never ones tagged for another pipeline).
    #[arg(long)]
    pub adopt: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "labctl",
    version,
    about = "Provision, check and remove the Kinesis streaming lab pipeline from one spec file"
)]
// The global flags are listed apart from each command's own, under "Global options".
pub struct Cli {
    /// The pipeline spec.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "pipeline.yaml",
        help_heading = GLOBAL
    )]
    pub file: PathBuf,
    /// AWS profile from ~/.aws/config.
    #[arg(long, global = true, env = "AWS_PROFILE", help_heading = GLOBAL)]
    pub profile: Option<String>,
    /// AWS region (overrides the spec's `region:`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub region: Option<String>,
    /// Send every request to this endpoint (also AWS_ENDPOINT_URL).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub endpoint_url: Option<String>,
    /// Use the local AWS stack (scripts/local-stack: http://127.0.0.1:4599, or
    /// LABCTL_LOCAL_ENDPOINT) with test credentials; refused unless its front answers.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub local: bool,
    /// Result format on stdout.
    #[arg(long, global = true, value_enum, default_value = "table", help_heading = GLOBAL)]
    pub output: Format,
    /// More logging on stderr: -v labctl's decisions, -vv one line per AWS request.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// No progress lines and no warnings on stderr.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
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
    /// Show what `up` would change, in execution order, with a summary line. Changes nothing.
    Plan {
        /// Every resource, not only those that change.
        #[arg(long)]
        all: bool,
        /// Exit 5 when there are changes to make (0: none, 1: an error, 2: bad input).
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        adopt: Adopt,
    },
    /// Create or update every resource, dependencies first, independent ones concurrently;
    /// then delete what is tagged for the pipeline but no longer in the spec.
    Up {
        /// Go on when the plan has blocked or unobservable resources (apply what can be).
        #[arg(long)]
        partial: bool,
        /// Do not ask for confirmation (with --adopt).
        #[arg(long)]
        yes: bool,
        /// Let a replacement delete a bucket that holds objects, every version, without
        /// asking (without it, up asks on a terminal and refuses elsewhere).
        #[arg(long)]
        allow_data_loss: bool,
        #[command(flatten)]
        adopt: Adopt,
    },
    /// Show each resource: exists, state, drift, the lab's data-flow checks and cost.
    /// Exit 0 only when all match the spec and all five checks pass (4: not yet validated, 3: a failure).
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
        /// Do not ask for confirmation (with --delete). Buckets that hold objects are
        /// then left as they are unless --delete-data is given too.
        #[arg(long)]
        yes: bool,
        /// With --delete: empty buckets that hold objects (every version) without asking.
        #[arg(long, requires = "delete")]
        delete_data: bool,
    },
    /// Print the least-privilege IAM policy an operator needs to run labctl on this
    /// spec (up, status, down, produce, tail, leftovers): the spec's resources by ARN,
    /// IAM writes and iam:PassRole only under the role path /labctl/. No AWS call.
    IamPolicy {
        /// The 12-digit account the policy is for.
        #[arg(long, value_parser = account_id)]
        account_id: String,
    },
    /// Send simulated sensor readings to the stream (the lab's producer).
    Produce(ProduceArgs),
    /// Read the stream's records as they arrive, every shard, across resharding.
    Tail(TailArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print labctl's man page (roff, from this command line's definition) on stdout.
    Man,
}

/// An AWS account id: twelve digits.
fn account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not an AWS account id (12 digits)"))
    }
}

impl Command {
    /// The command's name, as in the report.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Validate => "validate",
            Command::Graph { .. } => "graph",
            Command::Plan { .. } => "plan",
            Command::Up { .. } => "up",
            Command::Status { .. } => "status",
            Command::Down { .. } => "down",
            Command::Leftovers { .. } => "leftovers",
            Command::IamPolicy { .. } => "iam-policy",
            Command::Produce(_) => "produce",
            Command::Tail(_) => "tail",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}

impl Cli {
    /// `--adopt` given to `plan` or `up` (the only commands it affects).
    pub fn adopt(&self) -> bool {
        match &self.command {
            Command::Plan { adopt, .. } | Command::Up { adopt, .. } => adopt.adopt,
            _ => false,
        }
    }

    /// Where to send requests, from the global flags.
    pub fn target(&self) -> Target {
        Target {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
        }
    }

    /// What `produce` and `tail` need of the global flags.
    pub fn stream_session(&self) -> Session {
        Session {
            file: self.file.clone(),
            target: self.target(),
            output: self.output,
            quiet: self.quiet,
        }
    }
}
