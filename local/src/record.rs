//! Request recording: what one request to the local stack is (service, operation,
//! whether it changes anything), read from its signature, target header, query or body.
//! The front keeps a log of these for tests; the transition simulator and the fault
//! proxy classify requests the same way. Knows nothing about forwarding or answers.

use serde::Serialize;

/// One forwarded request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recorded {
    /// Signing name from the Authorization header (`s3`, `kinesis`, `firehose`, `iam` …).
    pub service: String,
    /// API operation (`CreateStream`) or, for S3, method and sub-resource (`PUT ?tagging`).
    pub operation: String,
    pub mutating: bool,
}

/// Operation-name prefixes of calls that change something.
const MUTATING: &[&str] = &[
    "Create",
    "Put",
    "Delete",
    "Update",
    "Add",
    "Remove",
    "Increase",
    "Decrease",
    "Start",
    "Stop",
    "Tag",
    "Untag",
    "Attach",
    "Detach",
    "Enable",
    "Disable",
    "Merge",
    "Split",
    "Register",
    "Deregister",
    "Set",
    "Associate",
    "Disassociate",
    "Modify",
    "Reset",
    "Change",
    "Upload",
    "Complete",
    "Abort",
    "Copy",
    "Restore",
];

fn is_mutating_operation(op: &str) -> bool {
    MUTATING.iter().any(|p| op.starts_with(p))
}

/// Classify a request from its parts.
pub fn classify(
    method: &str,
    path_and_query: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Recorded {
    let service = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        return Recorded {
            service,
            mutating: is_mutating_operation(&op),
            operation: op,
        };
    }
    if let Some(i) = path_and_query.find("/operation/") {
        let op = path_and_query[i + "/operation/".len()..]
            .split(['?', '/'])
            .next()
            .unwrap_or("")
            .to_string();
        return Recorded {
            service,
            mutating: is_mutating_operation(&op),
            operation: op,
        };
    }
    let form = std::str::from_utf8(body).unwrap_or("");
    if let Some(action) = form.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        let op = action.to_string();
        return Recorded {
            service,
            mutating: is_mutating_operation(&op),
            operation: op,
        };
    }
    // S3 (REST): the method and the sub-resource name.
    let sub = path_and_query
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .map(|kv| kv.split('=').next().unwrap_or(""))
                .filter(|k| !k.starts_with("x-id"))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    let operation = if sub.is_empty() {
        method.to_string()
    } else {
        format!("{method} ?{sub}")
    };
    Recorded {
        service,
        mutating: matches!(method, "PUT" | "POST" | "DELETE" | "PATCH"),
        operation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_each_protocol() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/kinesis/aws4_request"
                .parse()
                .unwrap(),
        );
        h.insert(
            "x-amz-target",
            "Kinesis_20131202.CreateStream".parse().unwrap(),
        );
        let r = classify("POST", "/", &h, b"{}");
        assert_eq!(
            (r.service.as_str(), r.operation.as_str(), r.mutating),
            ("kinesis", "CreateStream", true)
        );

        let h = hyper::HeaderMap::new();
        let r = classify("POST", "/", &h, b"Action=GetRole&RoleName=x");
        assert_eq!((r.operation.as_str(), r.mutating), ("GetRole", false));
        let r = classify("GET", "/bucket/?tagging", &h, b"");
        assert_eq!((r.operation.as_str(), r.mutating), ("GET ?tagging", false));
        let r = classify("PUT", "/bucket/key", &h, b"x");
        assert!(r.mutating);
    }
}
