//! The kill harness (issue 15, item 1), on the shipped pipeline.yaml (application included,
//! on the local stack with its Flink control plane): `labctl up` and `labctl down` are
//! killed with SIGKILL after n mutating requests, for n = 0..total (the front holds the
//! (n+1)-th; at n = total, after the last one, it holds the next request of any kind, so
//! labctl is killed while it waits). The front counts the requests, not labctl's output.
//! After each kill: the next `up` converges and the next `down` leaves nothing, both
//! checked by listing the endpoint directly (tests/common/inventory.rs). The harness asserts
//! outcomes, never the order of the requests, so it holds for any order the engine uses.
//!
//! CI runs a seeded sample (always 0, the last mutating request and the waiting point;
//! `LABCTL_KILL_SEED` repeats one); `LABCTL_KILL_SWEEP=full` (scripts/kill-sweep) runs
//! every point.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::inventory::inventory;
use common::*;

/// Sampled points per sweep in CI (besides 0, the last request and the waiting point).
const UP_SAMPLE: usize = 2;
const DOWN_SAMPLE: usize = 1;

fn spawn(stack: &Stack, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_labctl"))
        .current_dir(stack.dir.path())
        .args(args)
        .args([
            "--endpoint-url",
            &stack.front.url(),
            "--region",
            "us-east-1",
            "-q",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn labctl")
}

/// Run `args` and SIGKILL it after exactly `n` mutating requests reached the endpoint:
/// for n < total the (n+1)-th is held; for n == total (all made) the next request of any
/// kind is held, so labctl is killed while it waits. Panics when labctl finishes first
/// (the point was not reached) or the front's counts say otherwise.
fn kill_at(stack: &Stack, args: &[&str], n: usize, total: usize) {
    stack.front.release();
    stack.front.clear();
    if n < total {
        stack.front.hold_after_mutating(n);
    } else {
        stack.front.hold_all_after_mutating(n);
    }
    let mut child = spawn(stack, args);
    // A bound against a hang, not a timed assertion: each point takes a few seconds.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if stack.front.held() > 0 {
            child.kill().expect("SIGKILL");
            break;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let passed = stack.front.passed();
            stack.front.release();
            panic!(
                "`labctl {}` exited ({status}) after {passed} mutating requests, before kill point {n} of {total}",
                args.join(" ")
            );
        }
        assert!(
            Instant::now() < deadline,
            "`labctl {}` neither finished nor reached kill point {n}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    let (passed, held) = (stack.front.passed(), stack.front.held());
    let seen = stack.front.mutating().len();
    stack.front.release();
    assert_eq!(
        passed,
        n,
        "`labctl {}`: {passed} mutating requests reached the endpoint before kill point {n}",
        args.join(" ")
    );
    if n < total {
        // Every held request is mutating: the (n+1)-th and any sent alongside it.
        assert!(
            held >= 1 && seen == n + held,
            "kill point {n}: {seen} mutating requests seen, {held} held"
        );
    } else {
        assert!(
            held >= 1 && seen == total,
            "waiting point: {seen} mutating requests seen (of {total}), {held} held"
        );
    }
}

fn run(stack: &Stack, args: &[&str], what: &str) {
    let out = stack.labctl(args);
    assert_code_what(&out, 0, what);
}

#[track_caller]
fn assert_code_what(out: &std::process::Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
}

/// splitmix64: a seeded sample without a dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed: `LABCTL_KILL_SEED`, else the clock's nanoseconds (printed either way).
fn seed() -> u64 {
    std::env::var("LABCTL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        })
}

fn full_sweep() -> bool {
    std::env::var("LABCTL_KILL_SWEEP").as_deref() == Ok("full")
}

/// The kill points for `total` mutating requests: all of 0..=total in a full sweep, else
/// 0, total - 1, total (the waiting point) and `extra` more drawn with `state`.
fn points(total: usize, extra: usize, state: &mut u64) -> BTreeSet<usize> {
    if full_sweep() {
        return (0..=total).collect();
    }
    let mut p: BTreeSet<usize> = [0, total.saturating_sub(1), total].into();
    let want = (p.len() + extra).min(total + 1);
    while p.len() < want {
        p.insert((next(state) % (total as u64 + 1)) as usize);
    }
    p
}

/// The shipped lab on a fresh stack, brought up once cleanly: the stack, the endpoint's
/// listing of the converged lab, and how many mutating requests that `up` made.
fn converged_lab() -> (Stack, Vec<String>, usize) {
    let stack = Stack::start();
    write_shipped_lab(stack.dir.path());
    assert_eq!(inventory(&stack), Vec::<String>::new(), "a fresh stack");
    stack.front.clear();
    run(&stack, &["up"], "clean up");
    let total = stack.front.mutating().len();
    let reference = inventory(&stack);
    // The reference is the whole shipped lab, owned by its pipeline, every kind present.
    for (kind, count) in [
        ("bucket ", 1),
        ("stream ", 1),
        ("role ", 2),
        ("log-group ", 3),
        ("delivery-stream ", 2),
        ("application ", 1),
        ("dashboard ", 1),
        ("alarm ", 4),
        ("topic ", 1),
    ] {
        let lines: Vec<&String> = reference.iter().filter(|l| l.starts_with(kind)).collect();
        assert_eq!(lines.len(), count, "{kind}in {reference:#?}");
    }
    assert_eq!(reference.len(), 16, "{reference:#?}");
    for l in &reference {
        let owned = l.contains("owner=streaming-lab");
        let ready = [" ACTIVE ", " RUNNING "].iter().any(|s| l.contains(s));
        match l.split(' ').next() {
            Some("bucket" | "role" | "log-group" | "topic") => assert!(owned, "{l}"),
            Some("stream") => assert!(owned && ready, "{l}"),
            Some("delivery-stream" | "application") => assert!(ready, "{l}"),
            _ => {}
        }
    }
    (stack, reference, total)
}

/// After a kill: the next `up` converges to `reference`, the next `down` leaves nothing.
fn up_then_down_converge(stack: &Stack, reference: &[String], what: &str) {
    run(stack, &["up"], &format!("up after {what}"));
    assert_eq!(
        inventory(stack),
        reference,
        "the endpoint after {what}, then up"
    );
    run(stack, &["down", "--yes"], &format!("down after {what}, up"));
    assert_eq!(
        inventory(stack),
        Vec::<String>::new(),
        "left at the endpoint after {what}, up, down"
    );
}

#[test]
fn up_killed_at_every_point_is_finished_by_up_and_removed_by_down() {
    let (stack, reference, total) = converged_lab();
    assert!(total >= 20, "only {total} mutating requests in up");
    run(&stack, &["down", "--yes"], "clean down");
    assert_eq!(inventory(&stack), Vec::<String>::new(), "after clean down");

    let seed = seed();
    let mut state = seed;
    let wanted = points(total, UP_SAMPLE, &mut state);
    println!("up: {total} mutating requests; kill points {wanted:?} (seed {seed})");
    let mut covered = BTreeSet::new();
    for &n in &wanted {
        let what = format!("up killed at point {n} of {total}");
        // Killed, then `down`: nothing left.
        kill_at(&stack, &["up"], n, total);
        run(&stack, &["down", "--yes"], &format!("down after {what}"));
        assert_eq!(
            inventory(&stack),
            Vec::<String>::new(),
            "left at the endpoint after {what}, then down"
        );
        // Killed, then `up`: converges; then `down`: nothing left.
        kill_at(&stack, &["up"], n, total);
        up_then_down_converge(&stack, &reference, &what);
        covered.insert(n);
    }
    assert_eq!(covered, wanted);
    println!(
        "up: {} kill points covered of {} (0..={total}){}",
        covered.len(),
        total + 1,
        if full_sweep() { "" } else { ", seeded sample" }
    );
}

#[test]
fn down_killed_at_every_point_is_finished_by_down_and_undone_by_up() {
    let (stack, reference, _) = converged_lab();
    stack.front.clear();
    run(&stack, &["down", "--yes"], "clean down");
    let total = stack.front.mutating().len();
    assert!(total >= 15, "only {total} mutating requests in down");
    assert_eq!(inventory(&stack), Vec::<String>::new(), "after clean down");

    let seed = seed();
    let mut state = seed.rotate_left(17);
    let wanted = points(total, DOWN_SAMPLE, &mut state);
    println!("down: {total} mutating requests; kill points {wanted:?} (seed {seed})");
    let mut covered = BTreeSet::new();
    for &n in &wanted {
        let what = format!("down killed at point {n} of {total}");
        // Killed, then `down` again: nothing left.
        run(&stack, &["up"], "up");
        kill_at(&stack, &["down", "--yes"], n, total);
        run(&stack, &["down", "--yes"], &format!("down after {what}"));
        assert_eq!(
            inventory(&stack),
            Vec::<String>::new(),
            "left at the endpoint after {what}, then down"
        );
        // Killed, then `up`: converges; then `down`: nothing left.
        run(&stack, &["up"], "up");
        kill_at(&stack, &["down", "--yes"], n, total);
        up_then_down_converge(&stack, &reference, &what);
        covered.insert(n);
    }
    assert_eq!(covered, wanted);
    println!(
        "down: {} kill points covered of {} (0..={total}){}",
        covered.len(),
        total + 1,
        if full_sweep() { "" } else { ", seeded sample" }
    );
}
