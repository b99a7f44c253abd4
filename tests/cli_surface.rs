//! Issue 16 items 11 and 12: what the command line offers a new user without any AWS
//! call — shell completions and a man page generated from the CLI definition, global
//! flags in their own help section, `--adopt` only on the commands it affects.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;

fn labctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("labctl")
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_labctl()"),
        ("zsh", "#compdef labctl"),
        ("fish", "complete -c labctl"),
    ] {
        let out = labctl(&["completions", shell]);
        assert_code(&out, 0);
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {marker:?} missing");
        for cmd in ["status", "leftovers", "produce", "completions"] {
            assert!(text.contains(cmd), "{shell}: no {cmd}");
        }
    }
    assert_code(&labctl(&["completions", "tcsh-ish"]), 2);
}

#[test]
fn the_man_page_comes_from_the_cli_definition() {
    let out = labctl(&["man"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains(".TH labctl 1"), "{text}");
    for word in ["leftovers", "\\-\\-endpoint\\-url", "completions"] {
        assert!(text.contains(word), "{word} missing from the man page");
    }
}

#[test]
fn global_flags_have_their_own_help_section_and_adopt_is_only_where_it_acts() {
    let status = stdout(&labctl(&["status", "--help"]));
    let (own, global) = status
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("no Global options section:\n{status}"));
    assert!(own.contains("--watch"), "{status}");
    assert!(
        !own.contains("--region") && global.contains("--region"),
        "{status}"
    );
    assert!(!status.contains("--adopt"), "--adopt on status:\n{status}");
    for cmd in ["plan", "up"] {
        let help = stdout(&labctl(&[cmd, "--help"]));
        assert!(
            help.contains("--adopt"),
            "{cmd} --help lacks --adopt:\n{help}"
        );
    }
    for cmd in ["down", "validate", "graph", "leftovers", "produce", "tail"] {
        let help = stdout(&labctl(&[cmd, "--help"]));
        assert!(!help.contains("--adopt"), "--adopt on {cmd}:\n{help}");
    }
    // Given where it does nothing, it is refused as bad input.
    assert_code(&labctl(&["down", "--adopt"]), 2);
}
