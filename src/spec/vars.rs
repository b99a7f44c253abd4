//! `${...}` variables in spec strings, resolved at run time: `${account_id}`,
//! `${region}`, `${partition}` and `${pipeline}`. Firehose's own `!{...}`
//! expressions are left alone.

use super::Spec;

/// The names a spec may use inside `${...}`.
pub const KNOWN: &[&str] = &["account_id", "region", "partition", "pipeline"];

/// Values for the variables.
#[derive(Debug, Clone)]
pub struct Vars {
    pub account_id: String,
    pub region: String,
    pub partition: String,
    pub pipeline: String,
}

impl Vars {
    /// Stand-in values used to validate names before any AWS call: as long as the
    /// real ones can be (12-digit account, the region if known).
    pub fn sample(region: Option<&str>, pipeline: &str) -> Vars {
        Vars {
            account_id: "123456789012".into(),
            region: region.unwrap_or("ap-southeast-2").to_string(),
            partition: "aws".into(),
            pipeline: pipeline.to_string(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "account_id" => Some(&self.account_id),
            "region" => Some(&self.region),
            "partition" => Some(&self.partition),
            "pipeline" => Some(&self.pipeline),
            _ => None,
        }
    }
}

/// Names of the variables used in `s`, or a description of the first malformed one.
pub fn used(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` at `{}` is not closed by `}}`", &rest[i..]))?;
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// `s` with every known variable replaced; unknown ones are left as written
/// (validation has already rejected them).
pub fn substitute(s: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[i..i + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl Spec {
    /// Apply `f` to every string field that may hold variables, with its field path.
    pub fn for_each_string(&self, mut f: impl FnMut(&str, &str)) {
        for (k, v) in &self.tags {
            f(&format!("tags.{k}"), v);
        }
        for (id, b) in &self.buckets {
            f(&format!("buckets.{id}.name"), &b.name);
            tags(&mut f, &format!("buckets.{id}"), &b.tags);
        }
        for (id, s) in &self.streams {
            f(&format!("streams.{id}.name"), &s.name);
            tags(&mut f, &format!("streams.{id}"), &s.tags);
        }
        for (id, r) in &self.roles {
            f(&format!("roles.{id}.name"), &r.name);
            tags(&mut f, &format!("roles.{id}"), &r.tags);
        }
        for (id, d) in &self.delivery_streams {
            let p = format!("delivery_streams.{id}");
            f(&format!("{p}.name"), &d.name);
            f(&format!("{p}.destination.prefix"), &d.destination.prefix);
            if let Some(e) = &d.destination.error_prefix {
                f(&format!("{p}.destination.error_prefix"), e);
            }
            if let Some(k) = &d.destination.kms_key_arn {
                f(&format!("{p}.destination.kms_key_arn"), k);
            }
            if let Some(l) = &d.logging {
                f(&format!("{p}.logging.log_group"), &l.log_group);
                f(&format!("{p}.logging.log_stream"), &l.log_stream);
            }
            tags(&mut f, &p, &d.tags);
        }
        for (id, a) in &self.applications {
            f(&format!("applications.{id}.name"), &a.name);
            tags(&mut f, &format!("applications.{id}"), &a.tags);
        }
        for (id, d) in &self.dashboards {
            f(&format!("dashboards.{id}.name"), &d.name);
        }
        for (id, a) in &self.alarms {
            f(&format!("alarms.{id}.name"), &a.name);
            tags(&mut f, &format!("alarms.{id}"), &a.tags);
        }
        for (id, t) in &self.topics {
            f(&format!("topics.{id}.name"), &t.name);
            tags(&mut f, &format!("topics.{id}"), &t.tags);
        }
    }

    /// A copy with every variable replaced by its value.
    pub fn resolve(&self, vars: &Vars) -> Spec {
        let s = |x: &String| substitute(x, vars);
        let t = |m: &indexmap::IndexMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars)))
                .collect()
        };
        let mut out = self.clone();
        out.tags = t(&self.tags);
        for b in out.buckets.values_mut() {
            b.name = s(&b.name);
            b.tags = t(&b.tags);
        }
        for x in out.streams.values_mut() {
            x.name = s(&x.name);
            x.tags = t(&x.tags);
        }
        for r in out.roles.values_mut() {
            r.name = s(&r.name);
            r.tags = t(&r.tags);
        }
        for d in out.delivery_streams.values_mut() {
            d.name = s(&d.name);
            d.destination.prefix = s(&d.destination.prefix);
            d.destination.error_prefix = d.destination.error_prefix.as_ref().map(s);
            d.destination.kms_key_arn = d.destination.kms_key_arn.as_ref().map(s);
            if let Some(l) = d.logging.as_mut() {
                l.log_group = s(&l.log_group);
                l.log_stream = s(&l.log_stream);
            }
            d.tags = t(&d.tags);
        }
        for a in out.applications.values_mut() {
            a.name = s(&a.name);
            a.tags = t(&a.tags);
        }
        for d in out.dashboards.values_mut() {
            d.name = s(&d.name);
        }
        for a in out.alarms.values_mut() {
            a.name = s(&a.name);
            a.tags = t(&a.tags);
        }
        for x in out.topics.values_mut() {
            x.name = s(&x.name);
            x.tags = t(&x.tags);
        }
        out
    }
}

fn tags(f: &mut impl FnMut(&str, &str), path: &str, tags: &indexmap::IndexMap<String, String>) {
    for (k, v) in tags {
        f(&format!("{path}.tags.{k}"), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_and_keeps_firehose_expressions() {
        let v = Vars::sample(Some("eu-west-1"), "lab");
        assert_eq!(
            substitute("b-${account_id}-${region}/!{timestamp:yyyy}", &v),
            "b-123456789012-eu-west-1/!{timestamp:yyyy}"
        );
        assert_eq!(used("x-${region}-${nope}").unwrap(), vec!["region", "nope"]);
        assert!(used("x-${region").is_err());
    }
}
