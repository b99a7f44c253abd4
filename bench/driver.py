#!/usr/bin/env python3
"""Benchmark driver (run it through bench/run, which builds and installs what it needs).

Parts (each can run alone; `all` runs them in this order and writes one results file):

provision  The shipped pipeline.yaml, application included, built and removed by
           labctl, by the AWS CLI script (bench/lab-cli.sh) and by the boto3 script
           (bench/lab_boto3.py), on the local stack with the simulated AWS transition
           times on (`labctl-local dev --transitions F`, F = --factor; 1 is AWS's timing).
           Each round runs the three tools side by side, each on its own fresh stack (moto
           + front), so all three see the same machine load; up, down and up + down wall
           time per tool, in simulated seconds (wall / F). After every `up` the endpoint
           is listed directly and must hold what labctl's `up` made; after every `down` it
           must hold nothing. labctl's distance from the critical path of the relaxed
           dependencies under the simulator's constants (`labctl-local critical-path`).
commands   `labctl status` and `labctl plan` of the provisioned lab on a stack answering
           at once and on one adding 30 ms to every request (`labctl-local dev
           --latency-ms 30`).
produce    bench/produce.py (stack ceiling, labctl, boto3, --dry-run).

Results: JSON on stdout and in --out (default docs/bench-results/<commit>.json).
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in bench/

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SPEC = os.path.join(ROOT, "pipeline.yaml")
MOTO = os.environ.get("LABCTL_MOTO_SERVER", os.path.join(ROOT, ".labctl/venv/bin/moto_server"))
VENV_BIN = os.path.dirname(sys.executable)
LABCTL = os.environ.get("LABCTL_BIN", os.path.join(ROOT, "target/release/labctl"))
LABCTL_LOCAL = os.environ.get("LABCTL_LOCAL_BIN", os.path.join(ROOT, "target/release/labctl-local"))
INPUTS = os.path.join(ROOT, ".labctl", "bench", "anchor-inputs")
CLI_CONFIG = os.path.join(ROOT, ".labctl", "bench-aws-config")
TOOLS = ("labctl", "aws-cli", "boto3")
# All rounds at once (each run on its own stack) instead of one round after another.
CONCURRENT_ROUNDS = bool(os.environ.get("BENCH_CONCURRENT_ROUNDS"))

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, proc):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited early (code {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start on port {port}")


def http(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


class Stack:
    """moto on a free port and a `labctl-local dev` front before it."""

    def __init__(self, factor=0.0, latency_ms=0):
        self.moto_port = free_port()
        self.moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.moto_port, "moto_server", self.moto)
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        cmd = [LABCTL_LOCAL, "dev", "-f", SPEC, "--upstream", self.moto_url, "--transitions", str(factor)]
        if latency_ms:
            cmd += ["--latency-ms", str(latency_ms)]
        env = dict(os.environ, LABCTL_LOCAL_TIME_SCALE=str(factor if factor > 0 else 1))
        self.front = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.front.stdout.readline()
        if not line:
            sys.exit("labctl-local dev did not start")
        self.info = json.loads(line)
        self.url = self.info["url"]
        # Keep reading what the front prints after its first line, so it never blocks
        # on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.front.stdout], daemon=True).start()

    def stats(self):
        return json.loads(http(self.info["stats"], "POST"))

    def stop(self):
        for p in (self.front, self.moto):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def env_for(stack, extra=None):
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "ENDPOINT": stack.url, "INPUTS": INPUTS, "NO_COLOR": "1",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        # No shared config: path-style S3 for the CLI, no profile lookups.
        "AWS_CONFIG_FILE": CLI_CONFIG, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    env.update(extra or {})
    return env


def own_spec(cwd):
    """A copy of the shipped spec (and the files it names: sql/, flink/) in `cwd`, for one
    labctl run. labctl keeps its journal and run lock beside the spec (`.labctl/` in the
    spec's directory), one lock per pipeline, account and region: runs that shared
    ROOT/pipeline.yaml collided on it when rounds ran at once, and would share a journal
    in sequence. Each run's own copy gives it its own state."""
    shutil.copy(SPEC, os.path.join(cwd, "pipeline.yaml"))
    for d in ("sql", "flink"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(cwd, d), dirs_exist_ok=True)
    return os.path.join(cwd, "pipeline.yaml")


def labctl_cmd(stack, spec, *args):
    return [LABCTL, "-f", spec, "--endpoint-url", stack.url, "--region", "us-east-1", "-q", *args]


def tool_cmds(tool, stack, cwd):
    """(up, down) commands for a tool, run in `cwd`."""
    if tool == "aws-cli":
        return [os.path.join(BENCH, "lab-cli.sh"), "up"], [os.path.join(BENCH, "lab-cli.sh"), "down"]
    if tool == "boto3":
        py = [sys.executable, os.path.join(BENCH, "lab_boto3.py")]
        return py + ["up"], py + ["down"]
    spec = own_spec(cwd)
    return labctl_cmd(stack, spec, "up"), labctl_cmd(stack, spec, "down", "--yes")


class Failed(Exception):
    pass


# Every benchmark run gets its own working directory, with its own copy of the spec for
# labctl (see own_spec), so runs never share labctl's state with each other or anyone else.
WORK = tempfile.mkdtemp(prefix="labctl-bench-")


def timed(cmd, env, cwd=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       cwd=cwd or tempfile.mkdtemp(dir=WORK))
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise Failed(f"failed ({r.returncode}) after {dt:.1f}s: {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return dt


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summary(xs):
    return {"median": med(xs), "min": min(xs) if xs else None, "max": max(xs) if xs else None, "rounds": xs}


def shape(inv):
    """An inventory as compared between tools: everything it lists (names, objects,
    inline policies, log streams, retention, the application's status)."""
    return json.dumps(inv, sort_keys=True)


def one_tool(tool, factor, out):
    import inventory
    stack = Stack(factor)
    try:
        env = env_for(stack, {"LABCTL_WAIT_SCALE": str(factor), "BENCH_TIME_SCALE": str(factor)})
        cwd = tempfile.mkdtemp(dir=WORK)
        up, down = tool_cmds(tool, stack, cwd)
        out["up"] = timed(up, env, cwd) / factor
        out["after_up"] = inventory.inventory(stack.url)
        out["down"] = timed(down, env, cwd) / factor
        out["left_after_down"] = inventory.left(inventory.inventory(stack.url))
        out["requests"] = sum(c["count"] for c in stack.stats()["requests"])
    except Failed as e:
        out["error"] = str(e)
    finally:
        stack.stop()


def provision(rounds, factor, save=None, res_all=None):
    sys.path.insert(0, BENCH)
    times = {t: {"up": [], "down": [], "total": []} for t in TOOLS}
    checks = []
    info = Stack(factor)
    cp = {k: info.info.get(k) for k in ("critical_path", "durations", "factor")}
    info.stop()
    all_res = [{t: {} for t in TOOLS} for _ in range(rounds)]
    threads = [threading.Thread(target=one_tool, args=(t, factor, all_res[r][t]))
               for r in range(rounds if CONCURRENT_ROUNDS else 0) for t in TOOLS]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in range(rounds):
        res = all_res[r]
        if not CONCURRENT_ROUNDS:
            threads = [threading.Thread(target=one_tool, args=(t, factor, res[t])) for t in TOOLS]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        want = shape(res["labctl"].get("after_up"))
        for t in TOOLS:
            x = res[t]
            ok = "error" not in x and not x.get("left_after_down") and shape(x.get("after_up")) == want
            checks.append({"round": r + 1, "tool": t, "ok": ok, "error": x.get("error"),
                           "left_after_down": x.get("left_after_down"),
                           "same_as_labctl_after_up": shape(x.get("after_up")) == want,
                           "after_up": x.get("after_up"), "requests": x.get("requests")})
            if "error" in x:
                print(f"  round {r + 1}: {t} FAILED: {x['error']}", file=sys.stderr)
                continue
            times[t]["up"].append(x["up"])
            times[t]["down"].append(x["down"])
            times[t]["total"].append(x["up"] + x["down"])
        if save:
            res_all["provision"] = provision_result(factor, r + 1, cp, times, checks)
            save()
        print(f"  round {r + 1}/{rounds} (simulated s): " + ", ".join(
            f"{t} up {res[t].get('up', float('nan')):.1f} down {res[t].get('down', float('nan')):.1f}"
            for t in TOOLS) + ("" if all(c["ok"] for c in checks[-3:]) else "  CHECK FAILED"), file=sys.stderr)
    return provision_result(factor, rounds, cp, times, checks)


def provision_result(factor, rounds, cp, times, checks):
    return {"factor": factor, "rounds": rounds, "simulator": cp,
            "critical_path_tool": critical_path_tool(),
            "times": {t: {k: summary(v) for k, v in times[t].items()} for t in TOOLS},
            "checks": checks}


def critical_path_tool():
    """The critical path of the relaxed dependencies from the simulator's own constants:
    `labctl-local critical-path -f SPEC` (one source of truth, no copy of the numbers)."""
    try:
        r = subprocess.run([LABCTL_LOCAL, "critical-path", "-f", SPEC],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr.strip()[-500:]}
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return {"error": str(e)}


def time_cmd(cmd, env, runs, cwd=None):
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
        xs.append(time.perf_counter() - t)
        if r.returncode not in (0, 3, 4):
            raise Failed(f"{' '.join(cmd)} exited {r.returncode}")
    return {**summary([x * 1000 for x in xs]), "unit": "ms", "exit_code": r.returncode}


def commands(runs):
    out = {}
    for latency in (0, 30):
        stack = Stack(0.0, latency)
        try:
            env = env_for(stack)
            cwd = tempfile.mkdtemp(dir=WORK)
            spec = own_spec(cwd)
            timed(labctl_cmd(stack, spec, "up"), env, cwd)
            res = {}
            for name in ("status", "plan"):
                n0 = sum(c["count"] for c in stack.stats()["requests"])
                res[name] = time_cmd(labctl_cmd(stack, spec, name), env, runs, cwd)
                res[name]["requests_per_run"] = (sum(c["count"] for c in stack.stats()["requests"]) - n0) / runs
            timed(labctl_cmd(stack, spec, "down", "--yes"), env, cwd)
            out[f"latency_{latency}ms"] = res
        finally:
            stack.stop()
        print(f"  {latency} ms: status {res['status']['median']:.0f} ms, plan {res['plan']['median']:.0f} ms",
              file=sys.stderr)
    return out


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], stdout=subprocess.PIPE, text=True).stdout.strip()


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    import boto3
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    return {
        "commit": git("rev-parse", "HEAD"),
        # The shared worktree may hold other engineers' uncommitted edits; the binaries
        # are built from the worktree, so the files that differ from the commit are listed.
        "uncommitted_files_outside_bench": git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                               ":!bench", ":!docs").split("\n") if git(
            "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench", ":!docs") else [],
        "labctl": out([LABCTL, "--version"]),
        "rustc": out(["rustc", "--version"]),
        "aws-cli": out([os.path.join(VENV_BIN, "aws"), "--version"]),
        "boto3": boto3.__version__,
        "moto": out([os.path.join(os.path.dirname(MOTO), "python"), "-c", "import moto; print(moto.__version__)"]),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["all", "provision", "commands", "produce", "inputs"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--factor", type=float, default=1.0, help="simulated AWS transition times (1 = AWS's)")
    ap.add_argument("--command-runs", type=int, default=10)
    ap.add_argument("--produce-args", default="", help="passed to bench/produce.py")
    ap.add_argument("--out", help="results file (default docs/bench-results/<commit>.json for all)")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(CLI_CONFIG), exist_ok=True)
    with open(CLI_CONFIG, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    res = {"versions": versions()}
    out = a.out or (os.path.join(ROOT, "docs", "bench-results", res["versions"]["commit"][:12] + ".json")
                    if a.part == "all" else None)

    def save():
        # After every part, so a run cut short keeps what it measured.
        res["versions"]["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        if out:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "w") as f:
                json.dump(res, f, indent=1, default=str)

    if a.part in ("all", "commands"):
        print("status and plan, 0 and 30 ms per request", file=sys.stderr)
        res["commands"] = commands(a.command_runs)
        save()
    if a.part in ("all", "produce"):
        print("produce", file=sys.stderr)
        r = subprocess.run([sys.executable, os.path.join(BENCH, "produce.py"), *a.produce_args.split()],
                           stdout=subprocess.PIPE, text=True)
        res["produce"] = json.loads(r.stdout) if r.returncode == 0 else {"error": f"exit {r.returncode}"}
        save()
    if a.part in ("all", "provision", "inputs"):
        print("preparing the anchors' documents from labctl's requests", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(BENCH, "anchor_inputs.py"), INPUTS], check=True,
                       stdout=subprocess.DEVNULL)
    if a.part in ("all", "provision"):
        print(f"provisioning: {a.rounds} rounds at factor {a.factor}", file=sys.stderr)
        res["provision"] = provision(a.rounds, a.factor, save, res)
        save()
    if out:
        print(f"results: {out}", file=sys.stderr)
    print(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
