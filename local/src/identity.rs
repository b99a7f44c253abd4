//! Who answers on the local stack's port: `labctl-local serve --instance-id ID` answers
//! `GET /__labctl_local/identity` with that id (header `x-labctl-local-instance` and the
//! body), so `scripts/local-stack start` can tell its own front from anything else on
//! the port (LocalStack, an older front), and `labctl --local` can refuse an endpoint
//! that is not a labctl local front. No AWS API has this path. Knows nothing else of
//! the front.

use std::sync::OnceLock;

/// The path the front answers itself, never forwarded.
pub const PATH: &str = "/__labctl_local/identity";
/// The response header holding the instance id.
pub const HEADER: &str = "x-labctl-local-instance";

static ID: OnceLock<String> = OnceLock::new();

/// Set this process's instance id (once; later calls are ignored).
pub fn set(id: &str) {
    let _ = ID.set(id.to_string());
}

/// The instance id: the one set, else `pid-<process id>`.
pub fn get() -> String {
    ID.get()
        .cloned()
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
}

/// The identity answer for a request path, if it asks for it.
pub fn answer(path: &str) -> Option<String> {
    (path == PATH).then(get)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_identity_path_is_answered() {
        assert!(super::answer("/").is_none());
        assert!(super::answer(super::PATH).is_some());
    }
}
