//! `labctl leftovers`: finds every resource any labctl pipeline created — by the
//! ownership tag through the Resource Groups Tagging API, plus IAM's own role listing
//! (IAM is global), the analytics applications' listing and the dashboards' structured
//! marker (dashboards take no tags; [`crate::resource::dashboard::owner`]) — with its pipeline, age and hourly cost; `--delete`
//! removes them, dependents first. `down` uses [`find`] to check what remains.
//!
//! The Tagging API is eventually consistent: it keeps listing a resource for a while
//! after its deletion (Resource Groups Tagging API Reference, GetResources: "…may not
//! reflect the latest changes"; https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html),
//! so every resource found is confirmed with its own describe before it is reported.
//! IAM roles are listed only under labctl's path ([`crate::resource::policy::ROLE_PATH`],
//! ListRoles with PathPrefix: https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html),
//! never by scanning every role of the account.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use futures::StreamExt;
use serde::Serialize;

use crate::aws::errors::aws_err;
use crate::aws::Clients;
use crate::resource::{self, Node};
use crate::spec::validate::OWNER_TAG;
use crate::spec::vars::Vars;
use crate::spec::Spec;

/// Commercial regions searched by `--all-regions` (as of 2026-11). Regions not enabled
/// in the account answer with an error and are reported as skipped.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
];

/// One resource found with the ownership tag.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Found {
    pub region: String,
    pub pipeline: String,
    pub kind: String,
    pub name: String,
    pub arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    pub usd_per_hour: f64,
}

/// Kind and name from an ARN, for the kinds labctl creates.
pub fn kind_of(arn: &str) -> Option<(&'static str, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (service, res) = (*parts.get(2)?, *parts.get(5)?);
    let after = |p: &str| res.strip_prefix(p).map(str::to_string);
    Some(match service {
        "s3" => ("bucket", res.to_string()),
        "kinesis" => ("stream", after("stream/")?),
        "firehose" => ("delivery-stream", after("deliverystream/")?),
        "logs" => (
            "log-group",
            after("log-group:")?.trim_end_matches(":*").to_string(),
        ),
        "cloudwatch" => match after("alarm:") {
            Some(n) => ("alarm", n),
            None => ("dashboard", after("dashboard/")?),
        },
        "sns" => ("topic", res.to_string()),
        "kinesisanalytics" => ("application", after("application/")?),
        "iam" => ("role", after("role/")?.rsplit('/').next()?.to_string()),
        _ => return None,
    })
}

/// The ownership tag's value among (key, value) tags.
fn owner<'a>(mut tags: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> Option<String> {
    tags.find(|(k, _)| *k == OWNER_TAG)
        .and_then(|(_, v)| v.map(str::to_string))
}

/// The account id, read off any ARN found so far.
fn account_of(found: &BTreeMap<String, Found>) -> Option<String> {
    found.keys().find_map(|arn| {
        arn.split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn age(created: Option<i64>) -> Option<u64> {
    created.map(|c| now().saturating_sub(c).max(0) as u64)
}

/// Everything tagged for `pipeline` (or any pipeline) in the clients' region; with
/// `global`, IAM roles too.
pub async fn find(c: &Clients, pipeline: Option<&str>, global: bool) -> Result<Vec<Found>> {
    let mut s = Search {
        c,
        region: c.region.clone(),
        pipeline,
        found: BTreeMap::new(),
    };
    s.tagged().await?;
    s.listed().await;
    s.dashboards().await;
    if global {
        s.roles().await?;
    }
    s.confirm().await;
    s.ages_and_costs().await;
    Ok(s.found.into_values().collect())
}

/// One region's search: what was found so far, by ARN.
struct Search<'a> {
    c: &'a Clients,
    region: String,
    pipeline: Option<&'a str>,
    found: BTreeMap<String, Found>,
}

impl Search<'_> {
    fn wanted(&self, p: &str) -> bool {
        self.pipeline.is_none_or(|w| w == p)
    }

    fn add(&mut self, arn: String, p: String) {
        if let Some((kind, name)) = kind_of(&arn) {
            self.found.entry(arn.clone()).or_insert(Found {
                region: self.region.clone(),
                pipeline: p,
                kind: kind.to_string(),
                name,
                arn,
                age_seconds: None,
                usd_per_hour: 0.0,
            });
        }
    }

    /// The tagging API: every tagged resource of the region.
    async fn tagged(&mut self) -> Result<()> {
        let mut token: Option<String> = None;
        loop {
            let mut filter = TagFilter::builder().key(OWNER_TAG);
            if let Some(p) = self.pipeline {
                filter = filter.values(p);
            }
            let region = &self.region;
            let out = self
                .c
                .tagging
                .get_resources()
                .tag_filters(filter.build())
                .set_pagination_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_err(&format!("listing tagged resources in {region}"), e))?;
            for m in out.resource_tag_mapping_list() {
                let tag = m
                    .tags()
                    .iter()
                    .find(|t| t.key() == OWNER_TAG)
                    .map(|t| t.value().to_string());
                if let (Some(arn), Some(p)) = (m.resource_arn(), tag) {
                    if self.wanted(&p) {
                        self.add(arn.to_string(), p);
                    }
                }
            }
            token = out
                .pagination_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// Streams and analytics applications, listed directly too (not every endpoint
    /// indexes their tags).
    async fn listed(&mut self) {
        let mut direct = self.listed_streams().await;
        direct.extend(self.listed_applications().await);
        for (arn, p) in direct {
            if let Some(p) = p.filter(|p| self.wanted(p)) {
                self.add(arn, p);
            }
        }
    }

    /// (ARN, owner tag) of every stream not found yet.
    async fn listed_streams(&self) -> Vec<(String, Option<String>)> {
        let c = self.c;
        let mut direct = Vec::new();
        let Ok(streams) = c.kinesis.list_streams().send().await else {
            return direct;
        };
        let account = account_of(&self.found).unwrap_or_default();
        for name in streams.stream_names() {
            if self
                .found
                .values()
                .any(|f| f.kind == "stream" && &f.name == name)
            {
                continue;
            }
            let arn = format!(
                "arn:{}:kinesis:{}:{account}:stream/{name}",
                crate::aws::partition(&self.region),
                self.region
            );
            let tags = c
                .kinesis
                .list_tags_for_stream()
                .stream_name(name)
                .send()
                .await;
            direct.push((
                arn,
                tags.ok()
                    .and_then(|t| owner(t.tags().iter().map(|t| (t.key(), t.value())))),
            ));
        }
        direct
    }

    /// (ARN, owner tag) of every analytics application not found yet.
    async fn listed_applications(&self) -> Vec<(String, Option<String>)> {
        let c = self.c;
        let mut direct = Vec::new();
        let Ok(apps) = c.kinesisanalyticsv2.list_applications().send().await else {
            return direct;
        };
        for a in apps.application_summaries() {
            let arn = a.application_arn().to_string();
            if self.found.contains_key(&arn) {
                continue;
            }
            let tags = c
                .kinesisanalyticsv2
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await;
            direct.push((
                arn,
                tags.ok()
                    .and_then(|t| owner(t.tags().iter().map(|t| (t.key(), t.value())))),
            ));
        }
        direct
    }

    /// Dashboards carry the marker in their body instead of a tag.
    async fn dashboards(&mut self) {
        let c = self.c;
        let Ok(list) = c.cloudwatch.list_dashboards().send().await else {
            return;
        };
        for d in list.dashboard_entries() {
            let (Some(name), Some(arn)) = (d.dashboard_name(), d.dashboard_arn()) else {
                continue;
            };
            let Ok(body) = c
                .cloudwatch
                .get_dashboard()
                .dashboard_name(name)
                .send()
                .await
            else {
                continue;
            };
            // The structured marker (resource::dashboard::owner), never a substring.
            let Some(p) = body
                .dashboard_body()
                .and_then(|t| serde_json::from_str(t).ok())
                .and_then(|v| crate::resource::dashboard::owner(&v))
            else {
                continue;
            };
            if self.wanted(&p) {
                self.add(arn.to_string(), p);
                if let Some(f) = self.found.get_mut(arn) {
                    f.age_seconds = age(d.last_modified().map(|t| t.secs()));
                }
            }
        }
    }

    /// Drop what the Tagging API still lists but the resource's own describe says is
    /// gone. An answer that says neither (a throttle, a refusal) keeps the resource.
    async fn confirm(&mut self) {
        let c = self.c;
        let mut gone = Vec::new();
        // A bucket is looked up as this account's (S3 ARNs carry no account id).
        let account = if self.found.values().any(|f| f.kind == "bucket") {
            crate::aws::connect::account_id(c).await.ok()
        } else {
            None
        };
        for f in self.found.values() {
            if exists(c, f, account.as_deref()).await == Some(false) {
                tracing::debug!("{} {}: listed by tags but gone", f.kind, f.name);
                gone.push(f.arn.clone());
            }
        }
        for arn in gone {
            self.found.remove(&arn);
        }
    }

    /// labctl's IAM roles (global, under its path) with the ownership tag.
    async fn roles(&mut self) -> Result<()> {
        let c = self.c;
        let mut marker: Option<String> = None;
        loop {
            let out = c
                .iam
                .list_roles()
                .path_prefix(crate::resource::policy::ROLE_PATH)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| aws_err("listing IAM roles", e))?;
            for r in out.roles() {
                let tags = c.iam.list_role_tags().role_name(r.role_name()).send().await;
                let Ok(tags) = tags else { continue };
                let Some(p) = tags
                    .tags()
                    .iter()
                    .find(|t| t.key() == OWNER_TAG)
                    .map(|t| t.value().to_string())
                else {
                    continue;
                };
                if self.wanted(&p) {
                    let arn = r.arn().to_string();
                    self.add(arn.clone(), p);
                    if let Some(f) = self.found.get_mut(&arn) {
                        f.region = "global".into();
                        f.age_seconds = age(Some(r.create_date().secs()));
                    }
                }
            }
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() {
                return Ok(());
            }
        }
    }

    /// Ages and costs, per kind.
    async fn ages_and_costs(&mut self) {
        let c = self.c;
        let (prices, _) = crate::cost::prices(&c.region);
        let buckets: HashMap<String, i64> = match c.s3.list_buckets().send().await {
            Ok(out) => out
                .buckets()
                .iter()
                .filter_map(|b| Some((b.name()?.to_string(), b.creation_date()?.secs())))
                .collect(),
            Err(_) => HashMap::new(),
        };
        for f in self.found.values_mut() {
            match f.kind.as_str() {
                "bucket" => f.age_seconds = age(buckets.get(&f.name).copied()),
                "stream" => stream_age_and_cost(c, f, &prices).await,
                "delivery-stream" => f.age_seconds = delivery_created(c, &f.name).await,
                "log-group" => f.age_seconds = log_group_created(c, &f.name).await,
                "application" => {
                    f.usd_per_hour = 2.0 * prices.kpu_hour;
                    f.age_seconds = application_created(c, &f.name).await;
                }
                "dashboard" => f.usd_per_hour = prices.dashboard_month / 730.0,
                "alarm" => f.usd_per_hour = prices.alarm_month / 730.0,
                _ => {}
            }
        }
    }
}

/// Whether a found resource still exists by its own describe: Some(false) only when
/// the service says it is not there.
// check-lengths: allow (a flat table: one describe per kind)
async fn exists(c: &Clients, f: &Found, account: Option<&str>) -> Option<bool> {
    use crate::aws::errors::sdk_code;
    let n = f.name.as_str();
    let answer = |code: Option<&str>, missing: &[&str]| match code {
        Some(code) if missing.contains(&code) => Some(false),
        _ => None,
    };
    match f.kind.as_str() {
        // ExpectedBucketOwner: S3 answers 403 when another account owns the name
        // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html),
        // which keeps the entry as unknown, never as gone or as this account's.
        "bucket" => match c
            .s3
            .head_bucket()
            .bucket(n)
            .set_expected_bucket_owner(account.map(str::to_string))
            .send()
            .await
        {
            Ok(_) => Some(true),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_not_found() => Some(false),
                _ => answer(sdk_code(&e), &["NotFound", "NoSuchBucket"]),
            },
        },
        "stream" => match c
            .kinesis
            .describe_stream_summary()
            .stream_name(n)
            .send()
            .await
        {
            Ok(_) => Some(true),
            Err(e) => answer(sdk_code(&e), &["ResourceNotFoundException"]),
        },
        "delivery-stream" => {
            let d = c
                .firehose
                .describe_delivery_stream()
                .delivery_stream_name(n);
            match d.send().await {
                Ok(_) => Some(true),
                Err(e) => answer(sdk_code(&e), &["ResourceNotFoundException"]),
            }
        }
        "log-group" => {
            let out = c
                .logs
                .describe_log_groups()
                .log_group_name_prefix(n)
                .send()
                .await;
            out.ok()
                .map(|o| o.log_groups().iter().any(|g| g.log_group_name() == Some(n)))
        }
        "alarm" => {
            let out = c.cloudwatch.describe_alarms().alarm_names(n).send().await;
            out.ok().map(|o| !o.metric_alarms().is_empty())
        }
        "dashboard" => match c.cloudwatch.get_dashboard().dashboard_name(n).send().await {
            Ok(_) => Some(true),
            Err(e) => answer(
                sdk_code(&e),
                &["ResourceNotFound", "ResourceNotFoundException"],
            ),
        },
        "topic" => {
            let q = c.sns.get_topic_attributes().topic_arn(&f.arn);
            match q.send().await {
                Ok(_) => Some(true),
                Err(e) => answer(sdk_code(&e), &["NotFound"]),
            }
        }
        "application" => {
            let v2 = c
                .kinesisanalyticsv2
                .describe_application()
                .application_name(n);
            match v2.send().await {
                Ok(_) => Some(true),
                Err(e) if sdk_code(&e) == Some("ResourceNotFoundException") => {
                    // A SQL application may answer only on the v1 API.
                    let v1 = c
                        .kinesisanalytics
                        .describe_application()
                        .application_name(n);
                    match v1.send().await {
                        Ok(_) => Some(true),
                        Err(e) => answer(sdk_code(&e), &["ResourceNotFoundException"]),
                    }
                }
                Err(_) => None,
            }
        }
        "role" => match c.iam.get_role().role_name(n).send().await {
            Ok(_) => Some(true),
            Err(e) => answer(sdk_code(&e), &["NoSuchEntity"]),
        },
        _ => None,
    }
}

async fn stream_age_and_cost(c: &Clients, f: &mut Found, prices: &crate::cost::Prices) {
    let Ok(d) = c
        .kinesis
        .describe_stream_summary()
        .stream_name(&f.name)
        .send()
        .await
    else {
        return;
    };
    if let Some(s) = d.stream_description_summary() {
        f.age_seconds = age(Some(s.stream_creation_timestamp().secs()));
        let on_demand = s
            .stream_mode_details()
            .map(|m| m.stream_mode().as_str() == "ON_DEMAND")
            .unwrap_or(false);
        f.usd_per_hour = if on_demand {
            prices.stream_hour_on_demand
        } else {
            prices.shard_hour * s.open_shard_count() as f64
        };
    }
}

async fn delivery_created(c: &Clients, name: &str) -> Option<u64> {
    let d = c
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(name)
        .send()
        .await
        .ok()?;
    age(d
        .delivery_stream_description()
        .and_then(|d| d.create_timestamp())
        .map(|t| t.secs()))
}

async fn log_group_created(c: &Clients, name: &str) -> Option<u64> {
    let d = c
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .ok()?;
    let created = d
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .and_then(|g| g.creation_time());
    age(created.map(|ms| ms / 1000))
}

async fn application_created(c: &Clients, name: &str) -> Option<u64> {
    let d = c
        .kinesisanalyticsv2
        .describe_application()
        .application_name(name)
        .send()
        .await
        .ok()?;
    age(d
        .application_detail()
        .and_then(|a| a.create_timestamp())
        .map(|t| t.secs()))
}

/// Search several regions concurrently; regions that refuse are returned as skipped.
pub async fn find_in(
    regions: Vec<Clients>,
    pipeline: Option<&str>,
) -> (Vec<Found>, Vec<(String, String)>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    let first = regions.first().map(|c| c.region.clone());
    let results: Vec<(String, Result<Vec<Found>>)> =
        futures::stream::iter(regions.into_iter().map(|c| {
            let global = Some(&c.region) == first.as_ref();
            async move { (c.region.clone(), find(&c, pipeline, global).await) }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
    for (region, r) in results {
        match r {
            Ok(f) => found.extend(f),
            Err(e) => skipped.push((region, format!("{e:#}"))),
        }
    }
    found.sort_by(|a, b| {
        (&a.region, &a.pipeline, &a.kind, &a.name).cmp(&(&b.region, &b.pipeline, &b.kind, &b.name))
    });
    (found, skipped)
}

/// Deletion waves: a wave is removed only after the waves before it.
fn wave(kind: &str) -> usize {
    match kind {
        "application" | "dashboard" | "alarm" => 0,
        "delivery-stream" => 1,
        "stream" | "log-group" | "topic" => 2,
        _ => 3,
    }
}

/// The same resource found in several regions (S3 buckets and IAM roles have no region
/// in their ARN, and an endpoint may list them in every region) counts once: the
/// home region's finding if there is one, else the first.
pub fn dedupe(found: Vec<Found>, home: &str) -> Vec<Found> {
    let mut by_arn: BTreeMap<String, Found> = BTreeMap::new();
    for f in found {
        match by_arn.get(&f.arn) {
            Some(kept) if kept.region == home || kept.region == "global" => {}
            Some(_) if f.region != home => {}
            _ => {
                by_arn.insert(f.arn.clone(), f);
            }
        }
    }
    let mut out: Vec<Found> = by_arn.into_values().collect();
    out.sort_by(|a, b| {
        (&a.region, &a.pipeline, &a.kind, &a.name).cmp(&(&b.region, &b.pipeline, &b.kind, &b.name))
    });
    out
}

/// How many object versions a bucket holds (ListObjectVersions,
/// https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html), counted
/// up to `cap`; the bucket must belong to `account` (ExpectedBucketOwner). Folder
/// markers (empty objects whose key ends with `/`, what labctl puts) and delete markers
/// hold no data and are not counted.
pub async fn object_versions(c: &Clients, bucket: &str, account: &str, cap: u64) -> Result<u64> {
    let mut n = 0u64;
    let (mut key, mut version): (Option<String>, Option<String>) = (None, None);
    loop {
        let out =
            c.s3.list_object_versions()
                .bucket(bucket)
                .expected_bucket_owner(account)
                .set_key_marker(key.clone())
                .set_version_id_marker(version.clone())
                .send()
                .await
                .map_err(|e| aws_err(&format!("counting the objects of bucket {bucket}"), e))?;
        n += out
            .versions()
            .iter()
            .filter(|v| !(v.size() == Some(0) && v.key().is_some_and(|k| k.ends_with('/'))))
            .count() as u64;
        if !out.is_truncated().unwrap_or(false) || n >= cap {
            return Ok(n);
        }
        key = out.next_key_marker().map(str::to_string);
        version = out.next_version_id_marker().map(str::to_string);
        if key.is_none() {
            return Ok(n);
        }
    }
}

/// The stand-in spec entry (section and body) that deletes a found resource of `kind`
/// named `name`; None for log groups (added as found) and kinds labctl does not make.
fn stand_in(kind: &str, name: &str, empty: bool) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let destination = json!({"bucket": "none", "prefix": "x/",
        "buffering": {"interval_seconds": 60, "size_mib": 1}, "compression": "none",
        "encryption": "bucket-default"});
    Some(match kind {
        "bucket" => ("buckets", json!({"name": name, "force_destroy": empty})),
        "stream" => ("streams", json!({"name": name, "mode": "on-demand"})),
        "role" => ("roles", json!({"name": name, "service": "firehose"})),
        "delivery-stream" => (
            "delivery_streams",
            json!({"name": name, "source": {"type": "direct-put"}, "role": "none",
                "destination": destination}),
        ),
        "application" => (
            "applications",
            json!({"name": name, "engine": "flink", "role": "none",
                "input": {"stream": "none"}, "output": {"delivery_stream": "none"},
                "code": "none"}),
        ),
        "dashboard" => ("dashboards", json!({"name": name})),
        "alarm" => (
            "alarms",
            json!({"name": name, "metric": "iterator-age", "target": "none", "threshold": 0}),
        ),
        "topic" => ("topics", json!({"name": name})),
        _ => return None,
    })
}

/// Nodes that delete the found resources of one pipeline in one region, dependents first.
/// The pipeline is a tag value and may be anything: the spec the nodes come from is
/// built as a structure, never as YAML text. A bucket is emptied only when `may_empty`
/// says so (the caller's confirmation, or nothing in it but folder markers); otherwise a
/// bucket with objects fails its delete and keeps them.
pub fn nodes_for(
    found: &[&Found],
    pipeline: &str,
    vars: &Vars,
    may_empty: impl Fn(&Found) -> bool,
) -> Result<Vec<Node>> {
    let mut sections: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    let mut log_groups = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let id = format!("r{i}");
        if f.kind == "log-group" {
            log_groups.push((id, f.name.clone()));
        } else if let Some((section, body)) = stand_in(&f.kind, &f.name, may_empty(f)) {
            sections.entry(section).or_default().insert(id, body);
        }
    }
    let mut doc = serde_json::Map::new();
    doc.insert("version".into(), serde_json::json!(1));
    doc.insert("pipeline".into(), serde_json::json!(pipeline));
    for (section, entries) in sections {
        doc.insert(section.into(), serde_json::Value::Object(entries));
    }
    let spec: Spec = serde_json::from_value(serde_json::Value::Object(doc))?;
    let mut nodes = resource::build(&spec, vars);
    // Implicit nodes (`<id>/logs`) guess names; the log groups found are added as found.
    nodes.retain(|n| !n.id.contains('/'));
    for (id, group) in log_groups {
        nodes.push(Node {
            id,
            deps: Vec::new(),
            resource: Box::new(resource::loggroup::LogGroup {
                group,
                stream: String::new(),
                retention_days: 1,
                tags: resource::tags_for(&spec, &indexmap::IndexMap::new()),
            }),
        });
    }
    // Each node waits for every node of a later wave: down removes earlier waves first.
    let waves: Vec<(String, usize)> = nodes
        .iter()
        .map(|n| (n.id.clone(), wave(n.resource.kind())))
        .collect();
    for n in nodes.iter_mut() {
        let w = wave(n.resource.kind());
        n.deps = waves
            .iter()
            .filter(|(_, v)| *v > w)
            .map(|(id, _)| id.clone())
            .collect();
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_arns() {
        assert_eq!(kind_of("arn:aws:s3:::b-1"), Some(("bucket", "b-1".into())));
        assert_eq!(
            kind_of("arn:aws:kinesis:us-east-1:1:stream/s"),
            Some(("stream", "s".into()))
        );
        assert_eq!(
            kind_of("arn:aws:logs:us-east-1:1:log-group:/aws/x:*"),
            Some(("log-group", "/aws/x".into()))
        );
        assert_eq!(
            kind_of("arn:aws:cloudwatch:us-east-1:1:alarm:a b"),
            Some(("alarm", "a b".into()))
        );
        assert_eq!(
            kind_of("arn:aws:cloudwatch::1:dashboard/D"),
            Some(("dashboard", "D".into()))
        );
        assert_eq!(
            kind_of("arn:aws:sns:us-east-1:1:t"),
            Some(("topic", "t".into()))
        );
        assert_eq!(
            kind_of("arn:aws:iam::1:role/path/r"),
            Some(("role", "r".into()))
        );
        assert_eq!(kind_of("arn:aws:ec2:us-east-1:1:instance/i"), None);
    }

    fn found(region: &str, pipeline: &str, arn: &str) -> Found {
        let (kind, name) = kind_of(arn).expect("arn");
        Found {
            region: region.into(),
            pipeline: pipeline.into(),
            kind: kind.into(),
            name,
            arn: arn.into(),
            age_seconds: None,
            usd_per_hour: 0.0,
        }
    }

    #[test]
    fn a_resource_found_in_several_regions_counts_once() {
        let all = vec![
            found("eu-west-1", "p", "arn:aws:s3:::b"),
            found("us-east-1", "p", "arn:aws:s3:::b"),
            found("ap-south-1", "p", "arn:aws:s3:::b"),
            found("eu-west-1", "p", "arn:aws:s3:::c"),
            found("ap-south-1", "p", "arn:aws:s3:::c"),
            found("eu-west-1", "p", "arn:aws:kinesis:eu-west-1:1:stream/s"),
        ];
        let once = dedupe(all, "us-east-1");
        let seen: Vec<(&str, &str)> = once
            .iter()
            .map(|f| (f.region.as_str(), f.name.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![("eu-west-1", "c"), ("eu-west-1", "s"), ("us-east-1", "b")]
        );
    }

    #[test]
    fn a_malformed_pipeline_tag_value_still_gives_nodes() {
        let vars = Vars {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            pipeline: "x".into(),
        };
        for p in ["a: b", "x\nversion: 2", "{[\"'", "- y", ""] {
            let b = found("us-east-1", p, "arn:aws:s3:::b");
            let s = found("us-east-1", p, "arn:aws:kinesis:us-east-1:1:stream/s: t");
            let nodes = nodes_for(&[&b, &s], p, &vars, |_| false).expect("nodes");
            let names: Vec<&str> = nodes.iter().map(|n| n.resource.name()).collect();
            assert_eq!(names, vec!["b", "s: t"], "{p:?}");
        }
    }
}
