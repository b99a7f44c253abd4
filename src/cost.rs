//! What the pipeline costs while it runs: a price table kept in the repo (with its
//! date), the fixed hourly charge of each resource, the usage-based charges as notes,
//! and the cost so far from how long the pipeline has been up.

use serde::Serialize;

use crate::spec::{Engine, Spec, StreamMode};

/// When the table below was read off the AWS pricing pages (US East (N. Virginia)).
pub const PRICES_DATE: &str = "2026-11";

/// US-dollar prices for one region.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Prices {
    pub stream_hour_on_demand: f64,
    pub shard_hour: f64,
    pub kinesis_gb_in_on_demand: f64,
    pub kinesis_gb_out_on_demand: f64,
    pub firehose_gb: f64,
    pub kpu_hour: f64,
    pub dashboard_month: f64,
    pub alarm_month: f64,
    pub s3_gb_month: f64,
    pub logs_gb: f64,
}

const US: Prices = Prices {
    stream_hour_on_demand: 0.04,
    shard_hour: 0.015,
    kinesis_gb_in_on_demand: 0.08,
    kinesis_gb_out_on_demand: 0.04,
    firehose_gb: 0.029,
    kpu_hour: 0.11,
    dashboard_month: 3.00,
    alarm_month: 0.10,
    s3_gb_month: 0.023,
    logs_gb: 0.50,
};

/// Regions whose prices the table holds (the US regions share one price list).
pub const PRICED_REGIONS: &[&str] = &["us-east-1", "us-east-2", "us-west-2"];

/// Prices for a region, and whether the table really holds that region (if not,
/// us-east-1's are used and reports say so).
pub fn prices(region: &str) -> (Prices, bool) {
    (US, PRICED_REGIONS.contains(&region))
}

const HOURS_PER_MONTH: f64 = 730.0;

/// One resource's charges: fixed per hour while it exists, plus usage notes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cost {
    pub usd_per_hour: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub usage: String,
}

/// The cost of the resource with node id `id` in the resolved spec.
pub fn of(spec: &Spec, id: &str, p: &Prices) -> Option<Cost> {
    if let Some(s) = spec.streams.get(id) {
        return Some(match s.mode {
            StreamMode::OnDemand => Cost {
                usd_per_hour: p.stream_hour_on_demand,
                usage: format!(
                    "+ ${}/GB written, ${}/GB read",
                    p.kinesis_gb_in_on_demand, p.kinesis_gb_out_on_demand
                ),
            },
            StreamMode::Provisioned => Cost {
                usd_per_hour: p.shard_hour * s.shards.unwrap_or(1) as f64,
                usage: "+ PUT payload units".into(),
            },
        });
    }
    if spec.delivery_streams.contains_key(id) {
        return Some(Cost {
            usd_per_hour: 0.0,
            usage: format!("${}/GB ingested (5 KB minimum per record)", p.firehose_gb),
        });
    }
    if let Some(a) = spec.applications.get(id) {
        // Flink adds one KPU per application for orchestration.
        let kpus = match a.engine {
            Engine::Flink => 2.0,
            Engine::KinesisAnalyticsSql => 1.0,
        };
        return Some(Cost {
            usd_per_hour: kpus * p.kpu_hour,
            usage: format!("{kpus} KPU minimum; more when it scales"),
        });
    }
    if spec.dashboards.contains_key(id) {
        return Some(Cost {
            usd_per_hour: p.dashboard_month / HOURS_PER_MONTH,
            usage: "first 3 dashboards of an account are free".into(),
        });
    }
    if spec.alarms.contains_key(id) {
        return Some(Cost {
            usd_per_hour: p.alarm_month / HOURS_PER_MONTH,
            usage: String::new(),
        });
    }
    if spec.buckets.contains_key(id) {
        return Some(Cost {
            usd_per_hour: 0.0,
            usage: format!("${}/GB-month stored", p.s3_gb_month),
        });
    }
    if id.ends_with("/logs") {
        return Some(Cost {
            usd_per_hour: 0.0,
            usage: format!("${}/GB of error logs", p.logs_gb),
        });
    }
    None
}

/// The whole pipeline's cost summary for a report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub usd_per_hour: f64,
    pub prices_date: &'static str,
    /// False when the region is not in the table and us-east-1's prices were used.
    pub region_priced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_so_far: Option<f64>,
}

impl Summary {
    pub fn line(&self) -> String {
        let mut s = format!(
            "cost: ${:.3}/hour fixed while it exists, plus usage (prices of {}",
            self.usd_per_hour, self.prices_date
        );
        if !self.region_priced {
            s.push_str("; this region is not in the table, us-east-1's shown");
        }
        s.push(')');
        if let (Some(up), Some(so_far)) = (self.up_seconds, self.usd_so_far) {
            s.push_str(&format!(
                "; up {}h{:02}m, about ${so_far:.2} so far",
                up / 3600,
                (up % 3600) / 60
            ));
        }
        s
    }
}

/// Put each row's hourly cost on it and sum what counts: for `plan`, what `up` would
/// leave running; for `status`, what exists now, with the time since the oldest
/// resource was created and the cost so far.
pub fn annotate(
    spec: &Spec,
    rows: &mut [crate::engine::executor::Row],
    region: &str,
    status: bool,
) -> Summary {
    let (prices, region_priced) = prices(region);
    let mut per_hour = 0.0;
    for r in rows.iter_mut() {
        if let Some(c) = of(spec, &r.id, &prices) {
            r.usd_per_hour = Some(c.usd_per_hour);
            let counts = if status {
                matches!(r.action.as_str(), "ok" | "drift" | "not-ours")
            } else {
                r.action != "not-built"
            };
            if counts {
                per_hour += c.usd_per_hour;
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let up_seconds = rows
        .iter()
        .filter_map(|r| r.created)
        .min()
        .filter(|_| status)
        .map(|t| now.saturating_sub(t).max(0) as u64);
    Summary {
        usd_per_hour: per_hour,
        prices_date: PRICES_DATE,
        region_priced,
        up_seconds,
        usd_so_far: up_seconds.map(|s| per_hour * s as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_costs_its_stream_app_dashboard_and_alarms() {
        let spec: Spec =
            serde_yaml::from_str(include_str!("../pipeline.yaml")).expect("pipeline.yaml parses");
        let (p, exact) = prices("us-east-1");
        assert!(exact);
        let total: f64 = spec
            .ids()
            .iter()
            .filter_map(|(_, id)| of(&spec, id, &p))
            .map(|c| c.usd_per_hour)
            .sum();
        // 0.04 stream + 0.22 Flink + 3/730 dashboard + 4 × 0.10/730 alarms
        let want = 0.04 + 0.22 + 3.0 / 730.0 + 0.4 / 730.0;
        assert!((total - want).abs() < 1e-9, "{total} vs {want}");
        assert!(!prices("eu-west-1").1);
    }
}
