//! labctl's own environment variables checked before anything runs: a value labctl
//! cannot use is refused as bad input (exit 2) naming the variable, never silently
//! replaced by the default. Knows the variables, not what reads them.

use crate::error::UsageError;

/// The first unusable `LABCTL_*` value, as the error to report.
pub fn check() -> Result<(), UsageError> {
    check_with(|k| std::env::var(k).ok())
}

/// [`check`] with the environment given (tests).
pub fn check_with(get: impl Fn(&str) -> Option<String>) -> Result<(), UsageError> {
    let bad = |var: &str, v: &str, want: &str| {
        Err(UsageError(format!(
            "{var}={v:?} is not {want}; fix or unset it"
        )))
    };
    if let Some(v) = get("LABCTL_TIMEOUT_SECONDS") {
        match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => {}
            _ => return bad("LABCTL_TIMEOUT_SECONDS", &v, "a number of seconds > 0"),
        }
    }
    if let Some(v) = get("LABCTL_IAM_PROPAGATION_SECONDS") {
        if v.trim().parse::<u64>().is_err() {
            return bad(
                "LABCTL_IAM_PROPAGATION_SECONDS",
                &v,
                "a whole number of seconds",
            );
        }
    }
    if let Some(v) = get("LABCTL_WAIT_SCALE") {
        match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => {}
            _ => return bad("LABCTL_WAIT_SCALE", &v, "a factor > 0"),
        }
    }
    if let Some(v) = get("LABCTL_LOCAL_ENDPOINT") {
        if !(v.starts_with("http://") || v.starts_with("https://")) {
            return bad("LABCTL_LOCAL_ENDPOINT", &v, "an http:// or https:// URL");
        }
    }
    if let Some(v) = get("LABCTL_LOG") {
        if tracing_subscriber::EnvFilter::try_new(&v).is_err() {
            return bad(
                "LABCTL_LOG",
                &v,
                "a tracing filter (such as `labctl=debug`)",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_with;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn unusable_values_are_refused_by_name() {
        assert!(check_with(env(&[])).is_ok());
        assert!(check_with(env(&[("LABCTL_TIMEOUT_SECONDS", "2.5")])).is_ok());
        for (k, v) in [
            ("LABCTL_TIMEOUT_SECONDS", "soon"),
            ("LABCTL_TIMEOUT_SECONDS", "0"),
            ("LABCTL_IAM_PROPAGATION_SECONDS", "-1"),
            ("LABCTL_WAIT_SCALE", "NaN"),
            ("LABCTL_LOCAL_ENDPOINT", "localhost:4599"),
        ] {
            let e = check_with(env(&[(k, v)])).expect_err(k);
            assert!(e.0.starts_with(k), "{e}");
        }
    }
}
