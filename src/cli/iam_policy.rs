//! `labctl iam-policy`: the least-privilege IAM policy an operator needs to run labctl
//! on the spec ([`crate::resource::operator`]), printed as JSON for `aws iam
//! put-user-policy` or a CI role. No AWS call: the account comes from `--account-id`,
//! the region from `--region` or the spec.

use anyhow::Result;

use super::args::Cli;
use super::session;
use crate::error::{exit, UsageError};
use crate::resource::operator;
use crate::spec::vars::Vars;

pub fn run(cli: &Cli, account_id: &str) -> Result<i32> {
    let loaded = session::load(cli)?;
    let Some(region) = cli.region.clone().or_else(|| loaded.spec.region.clone()) else {
        return Err(UsageError(
            "the policy names the region's resources: give --region (or `region:` in the spec)"
                .into(),
        )
        .into());
    };
    let vars = Vars {
        account_id: account_id.to_string(),
        partition: crate::aws::partition(&region).to_string(),
        region,
        pipeline: loaded.spec.pipeline.clone(),
    };
    let spec = loaded.spec.resolve(&vars);
    let doc = operator::operator_policy(&spec, &vars);
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(exit::OK)
}
