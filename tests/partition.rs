//! No product code hard-codes the `aws` partition: every ARN labctl builds takes the
//! partition derived from the region (`aws::partition`, unit-tested in src/aws/connect.rs),
//! so the same spec works in aws-cn and aws-us-gov (IAM User Guide, "Identify AWS
//! resources with Amazon Resource Names (ARNs)"). Unit tests (after `#[cfg(test)]`) and
//! comments may show example ARNs.

use std::path::{Path, PathBuf};

/// Lines that may name `arn:aws:` although they are product code, with why.
const ALLOWED: &[(&str, &str)] = &[(
    "src/spec/validate.rs",
    "a hint to the user showing the form of a KMS key ARN, not an ARN labctl sends",
)];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `arn:aws:` literals in product code: `file:line: text`.
fn hard_coded(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut hits = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).expect("a source file is UTF-8");
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.trim_start();
            if code.starts_with("//") || !code.contains("arn:aws:") {
                continue;
            }
            if ALLOWED.iter().any(|(file, _)| *file == rel) && code.contains("...") {
                continue;
            }
            hits.push(format!("{rel}:{}: {}", i + 1, code));
        }
    }
    hits
}

#[test]
fn no_product_code_hard_codes_the_aws_partition() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hits = hard_coded(root);
    assert!(
        hits.is_empty(),
        "ARNs with a literal `aws` partition (use the region's partition):\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_scan_finds_a_literal() {
    let dir = std::env::temp_dir().join(format!("labctl-partition-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).expect("temp dir");
    std::fs::write(
        dir.join("src/x.rs"),
        "// arn:aws:s3:::in-a-comment\nfn a() -> String { format!(\"arn:aws:s3:::{}\", 1) }\n#[cfg(test)]\nconst T: &str = \"arn:aws:s3:::t\";\n",
    )
    .expect("write fixture");
    let hits = hard_coded(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(hits[0].starts_with("src/x.rs:2:"), "{hits:?}");
}
