//! IAM role for a service (Firehose or the analytics application): a trust policy
//! limited to this account and one inline least-privilege policy generated from the
//! resources that use the role. Drift in either, extra inline policies or attached
//! managed policies is reported by `status` and corrected by `up`. `down` removes the
//! policies, then the role.

use std::collections::HashMap;

use anyhow::{bail, Result};
use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use indexmap::IndexMap;
use serde_json::Value;

use super::jsondiff;
use super::model::{
    aws_err, sdk_code, tag_drift, tags_for, Ctx, Drift, Observed, Ownership, Present, Resource,
};
use super::policy::{self, canonical, INLINE_POLICY};
use crate::engine::wait::{self, Bound, Poll};
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::{RoleService, Spec};

const GONE_WAIT: Bound = Bound::new(120, 500, 5000);

/// The tag naming the region whose deployment of the pipeline created the role. IAM
/// roles are global (a role name is unique within the account, CreateRole:
/// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html), so the same
/// pipeline deployed in two regions tags roles with one `labctl:pipeline`; pruning
/// deletes a role only when this tag names its own region
/// ([`crate::resource::orphans`]). Set at create only (CreateRole's `Tags`), never
/// compared as drift: a role another region's deployment of the same name uses is not
/// retagged back and forth.
pub const REGION_TAG: &str = "labctl:region";

pub struct Role {
    name: String,
    trust: Value,
    inline: Value,
    tags: IndexMap<String, String>,
    /// The region of the deployment that creates it ([`REGION_TAG`]).
    region: String,
}

/// Decode a policy document as IAM returns it (URL-encoded JSON).
fn decode(doc: &str) -> Option<Value> {
    let text = urlencoding::decode(doc)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| doc.to_string());
    serde_json::from_str(&text).ok()
}

impl Role {
    pub fn new(
        spec: &Spec,
        id: &str,
        service: RoleService,
        name: &str,
        own_tags: &IndexMap<String, String>,
        vars: &Vars,
    ) -> Role {
        Role {
            name: name.to_string(),
            trust: policy::trust_policy(service, vars),
            inline: policy::inline_policy(spec, id, vars),
            tags: tags_for(spec, own_tags),
            region: vars.region.clone(),
        }
    }

    /// The generated inline policy (tests and `plan` show it).
    pub fn inline_policy(&self) -> &Value {
        &self.inline
    }

    async fn tags(&self, ctx: &Ctx) -> Result<HashMap<String, String>> {
        let out = ctx
            .aws
            .iam
            .list_role_tags()
            .role_name(&self.name)
            .send()
            .await
            .map_err(|e| aws_err(&format!("reading the tags of role {}", self.name), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    fn iam_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    /// The tags a new role gets: the spec's and the ownership tag, and its region.
    fn create_tags(&self) -> Vec<Tag> {
        let mut tags = self.iam_tags();
        tags.extend(
            Tag::builder()
                .key(REGION_TAG)
                .value(&self.region)
                .build()
                .ok(),
        );
        tags
    }

    /// False when no resource of the spec uses the role: IAM refuses an empty policy,
    /// so the role then has no inline policy at all.
    fn grants_anything(&self) -> bool {
        self.inline["Statement"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    }

    async fn put_inline(&self, ctx: &Ctx) -> Result<()> {
        if !self.grants_anything() {
            return match ctx
                .aws
                .iam
                .delete_role_policy()
                .role_name(&self.name)
                .policy_name(INLINE_POLICY)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if sdk_code(&e) == Some("NoSuchEntity") => Ok(()),
                Err(e) => Err(aws_err(
                    &format!("removing the inline policy of role {}", self.name),
                    e,
                )),
            };
        }
        ctx.aws
            .iam
            .put_role_policy()
            .role_name(&self.name)
            .policy_name(INLINE_POLICY)
            .policy_document(self.inline.to_string())
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("writing the inline policy of role {}", self.name),
                    e,
                )
            })?;
        Ok(())
    }

    async fn inline_names(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let out = ctx
            .aws
            .iam
            .list_role_policies()
            .role_name(&self.name)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("listing the inline policies of role {}", self.name),
                    e,
                )
            })?;
        Ok(out.policy_names().to_vec())
    }

    async fn attached(&self, ctx: &Ctx) -> Result<Vec<String>> {
        let out = ctx
            .aws
            .iam
            .list_attached_role_policies()
            .role_name(&self.name)
            .send()
            .await
            .map_err(|e| {
                aws_err(
                    &format!("listing the managed policies of role {}", self.name),
                    e,
                )
            })?;
        Ok(out
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect())
    }

    async fn get(&self, ctx: &Ctx) -> Result<Option<aws_sdk_iam::types::Role>> {
        match ctx.aws.iam.get_role().role_name(&self.name).send().await {
            Ok(out) => match out.role() {
                Some(r) => Ok(Some(r.clone())),
                None => anyhow::bail!(
                    "looking up role {}: GetRole answered without the role (a cut or malformed answer); run the command again",
                    self.name
                ),
            },
            Err(e) if sdk_code(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(aws_err(&format!("looking up role {}", self.name), e)),
        }
    }
}

impl Role {
    /// CreateRole, with its path, trust policy and tags; a retried create whose first
    /// attempt went through is accepted when the role is tagged as ours.
    async fn send_create(&self, ctx: &Ctx) -> Result<()> {
        let sent = ctx
            .aws
            .iam
            .create_role()
            .role_name(&self.name)
            .path(policy::ROLE_PATH)
            .assume_role_policy_document(self.trust.to_string())
            .description(format!(
                "labctl pipeline {}: least-privilege service role",
                ctx.pipeline()
            ))
            .set_tags(Some(self.create_tags()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // A retried create whose first attempt went through.
            Err(e) if sdk_code(&e) == Some("EntityAlreadyExists") => {
                let tags = self.tags(ctx).await?;
                if tags.get(OWNER_TAG).map(String::as_str) != Some(ctx.pipeline()) {
                    bail!("role {} appeared while labctl was creating it and is not tagged as ours; it was left alone", self.name);
                }
                Ok(())
            }
            Err(e) => Err(aws_err(&format!("creating role {}", self.name), e)),
        }
    }

    /// Make the role match the spec, one observed difference at a time.
    async fn apply_drift(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        let iam = &ctx.aws.iam;
        for d in &present.drift {
            ctx.progress.step(
                &self.name,
                &format!("updating {}: {} -> {}", d.field, d.actual, d.desired),
            );
            if d.field == "trust_policy" {
                iam.update_assume_role_policy()
                    .role_name(&self.name)
                    .policy_document(self.trust.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        aws_err(
                            &format!("updating the trust policy of role {}", self.name),
                            e,
                        )
                    })?;
            } else if d.field == "policy" {
                self.put_inline(ctx).await?;
            } else if let Some(name) = d.field.strip_prefix("inline_policies.") {
                iam.delete_role_policy()
                    .role_name(&self.name)
                    .policy_name(name)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_err(
                            &format!("removing inline policy {name} from role {}", self.name),
                            e,
                        )
                    })?;
            } else if let Some(arn) = d.field.strip_prefix("managed_policies.") {
                iam.detach_role_policy()
                    .role_name(&self.name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_err(&format!("detaching {arn} from role {}", self.name), e))?;
            } else if d.field == "path" {
                bail!(
                    "role {} is under the path {} but labctl's roles live under {} (their ARNs hold the path) and IAM cannot move a role: run `labctl down`, then `labctl up`",
                    self.name,
                    d.actual,
                    policy::ROLE_PATH
                );
            } else if d.field == "tags" {
                iam.tag_role()
                    .role_name(&self.name)
                    .set_tags(Some(self.iam_tags()))
                    .send()
                    .await
                    .map_err(|e| aws_err(&format!("tagging role {}", self.name), e))?;
            } else {
                bail!(
                    "role {}: labctl cannot change `{}` in place",
                    self.name,
                    d.field
                );
            }
        }
        Ok(())
    }

    /// How the role's trust policy differs from the spec's, if it does; an answer
    /// without a readable trust policy is an error.
    fn trust_drift(&self, role: &aws_sdk_iam::types::Role) -> Result<Option<Drift>> {
        // AWS always sends the trust policy; without it the answer was cut or malformed.
        let Some(doc) = role.assume_role_policy_document() else {
            anyhow::bail!(
                "looking up role {}: GetRole answered without the role's trust policy (a cut or malformed answer); run the command again",
                self.name
            );
        };
        let trust = decode(doc);
        if trust.is_none() {
            anyhow::bail!(
                "looking up role {}: GetRole answered a trust policy that is not JSON (a cut or malformed answer); run the command again",
                self.name
            );
        }
        let have = trust.as_ref().map(canonical).unwrap_or_default();
        // The keys that differ, with both values (not just "differs").
        Ok(jsondiff::sides(&have, &canonical(&self.trust))
            .map(|(actual, desired)| Drift::new("trust_policy", actual, desired)))
    }

    /// The inline policies that differ: the generated one missing, changed or not
    /// wanted, and any other inline policy.
    async fn inline_drift(&self, ctx: &Ctx) -> Result<Vec<Drift>> {
        let mut drift = Vec::new();
        let names = self.inline_names(ctx).await?;
        for extra in names.iter().filter(|n| n.as_str() != INLINE_POLICY) {
            drift.push(Drift::new(
                &format!("inline_policies.{extra}"),
                "present",
                "absent",
            ));
        }
        let has_inline = names.iter().any(|n| n == INLINE_POLICY);
        if !self.grants_anything() {
            if has_inline {
                drift.push(Drift::new(
                    "policy",
                    "present",
                    "absent: nothing in the spec uses this role",
                ));
            }
        } else if has_inline {
            let got = ctx
                .aws
                .iam
                .get_role_policy()
                .role_name(&self.name)
                .policy_name(INLINE_POLICY)
                .send()
                .await
                .map_err(|e| {
                    aws_err(
                        &format!("reading the inline policy of role {}", self.name),
                        e,
                    )
                })?;
            let have = decode(got.policy_document())
                .as_ref()
                .map(canonical)
                .unwrap_or_default();
            if let Some((actual, desired)) = jsondiff::sides(&have, &canonical(&self.inline)) {
                drift.push(Drift::new("policy", actual, desired));
            }
        } else {
            drift.push(Drift::new(
                "policy",
                "missing",
                "the generated least-privilege policy",
            ));
        }
        Ok(drift)
    }
}

#[async_trait]
impl Resource for Role {
    fn kind(&self) -> &'static str {
        "role"
    }
    fn name(&self) -> &str {
        &self.name
    }

    async fn observe(&self, ctx: &Ctx) -> Result<Observed> {
        let Some(role) = self.get(ctx).await? else {
            return Ok(Observed::Absent);
        };
        let tags = self.tags(ctx).await?;
        let ownership =
            Ownership::from_tag(tags.get(OWNER_TAG).map(String::as_str), ctx.pipeline());
        let mut p = Present::new("exists", ownership.clone());
        p.arn = Some(role.arn().to_string());
        if !ctx.inspects(&ownership) {
            return Ok(Observed::Present(p));
        }
        // Every reference to the role names its ARN with labctl's path; IAM cannot move a
        // role to another path, so a role elsewhere must be recreated.
        if role.path() != policy::ROLE_PATH {
            p.replace
                .push(Drift::new("path", role.path(), policy::ROLE_PATH));
        }
        if let Some(d) = self.trust_drift(&role)? {
            p.drift.push(d);
        }
        p.drift.extend(self.inline_drift(ctx).await?);
        for arn in self.attached(ctx).await? {
            p.drift.push(Drift::new(
                &format!("managed_policies.{arn}"),
                "attached",
                "detached",
            ));
        }
        if let Some(d) = tag_drift(&tags, &self.tags) {
            p.drift.push(d);
        }
        Ok(Observed::Present(p))
    }

    async fn create(&self, ctx: &Ctx) -> Result<()> {
        // Never a grant on a resource that is not this pipeline's (issue 18): the check
        // comes before the inline policy, the only part of the role that grants on those
        // resources. It runs while the role is created (CreateRole's trust policy grants
        // nothing on them), since the role starts IAM's propagation and is the first step
        // of `up`'s critical path (issue 17). When the check refuses, the role stays
        // without a policy, tagged as this pipeline's: `down` removes it, a later `up`
        // checks again before it writes the policy.
        ctx.progress.step(&self.name, "creating role");
        let (checked, created) = tokio::join!(
            super::grants::check(ctx, &self.name, &self.inline),
            self.send_create(ctx)
        );
        created?;
        checked?;
        self.put_inline(ctx).await
    }

    async fn update(&self, ctx: &Ctx, present: &Present) -> Result<()> {
        super::grants::check(ctx, &self.name, &self.inline).await?;
        self.apply_drift(ctx, present).await
    }

    async fn delete(&self, ctx: &Ctx, _: &Present) -> Result<()> {
        let iam = &ctx.aws.iam;
        for name in self.inline_names(ctx).await? {
            ctx.progress
                .step(&self.name, &format!("removing inline policy {name}"));
            match iam
                .delete_role_policy()
                .role_name(&self.name)
                .policy_name(&name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if sdk_code(&e) == Some("NoSuchEntity") => {}
                Err(e) => {
                    return Err(aws_err(
                        &format!("removing inline policy {name} from role {}", self.name),
                        e,
                    ))
                }
            }
        }
        for arn in self.attached(ctx).await? {
            ctx.progress.step(&self.name, &format!("detaching {arn}"));
            iam.detach_role_policy()
                .role_name(&self.name)
                .policy_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_err(&format!("detaching {arn} from role {}", self.name), e))?;
        }
        ctx.progress.step(&self.name, "deleting role");
        match iam.delete_role().role_name(&self.name).send().await {
            Ok(_) => {}
            Err(e) if sdk_code(&e) == Some("NoSuchEntity") => return Ok(()),
            Err(e) => return Err(aws_err(&format!("deleting role {}", self.name), e)),
        }
        wait::until(
            &ctx.progress,
            &self.name,
            "the role to be gone",
            GONE_WAIT,
            || async {
                Ok(if self.get(ctx).await?.is_none() {
                    Poll::Ready(())
                } else {
                    Poll::Pending("still visible".into())
                })
            },
        )
        .await
    }
}
