#!/usr/bin/env python3
"""Provisioning benchmark driver (run it through bench/run, which prepares the tools).

1. A fresh local stack (moto from .labctl/venv) on a free port, behind `labctl-local
   dev` (the local crate's counting front; counts requests per resource).
2. Rounds: the AWS CLI script, the boto3 script and `labctl up` + `labctl down`
   (release build, --endpoint-url) in rotating order, the stack reset before each run;
   medians and ratios of up + down.
3. `labctl status` and `labctl plan` of the provisioned lab, `labctl --help` startup
   (hyperfine when installed, else a loop), release binary size, peak RSS of `up`.
4. Simulated AWS transition times: a new front with `--transitions FACTOR`, labctl's
   waits scaled by the same factor (LABCTL_WAIT_SCALE, read only by a labctl built with
   the `wait-scale` cargo feature, as bench/run builds it); up and down wall time in
   simulated seconds next to the plan's critical path; describe requests per resource
   and the busiest simulated second per operation next to the documented limits.

Prints a report; also writes it as JSON to .labctl/bench-results.json.
"""
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
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
SPEC = os.path.join(BENCH, "pipeline.yaml")
MOTO = os.environ.get("LABCTL_MOTO_SERVER", os.path.join(ROOT, ".labctl/venv/bin/moto_server"))
VENV_BIN = os.path.dirname(sys.executable)
LABCTL = os.environ.get("LABCTL_BIN", os.path.join(ROOT, "target/release/labctl"))
LABCTL_LOCAL = os.environ.get("LABCTL_LOCAL_BIN", os.path.join(ROOT, "target/release/labctl-local"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, proc):
    deadline = time.time() + 30
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
    """moto on a free port and a labctl-local front before it."""

    def __init__(self, factor=0.0):
        self.moto_port = free_port()
        self.moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.moto_port, "moto_server", self.moto)
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        self.front = subprocess.Popen(
            [LABCTL_LOCAL, "dev", "-f", SPEC, "--upstream", self.moto_url,
             "--transitions", str(factor)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.front.stdout.readline()
        if not line:
            sys.exit("labctl-local dev did not start")
        self.info = json.loads(line)
        self.url = self.info["url"]

    def reset(self):
        http(f"{self.moto_url}/moto-api/reset", "POST")
        http(self.info["reset"], "POST")

    def stats(self):
        return json.loads(http(self.info["stats"]))

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
        "ENDPOINT": stack.url, "NO_COLOR": "1",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        # No shared config: path-style S3 for the CLI, no profile lookups.
        "AWS_CONFIG_FILE": CLI_CONFIG, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    })
    env.update(extra or {})
    return env


def labctl_cmd(stack, *args):
    return [LABCTL, "-f", SPEC, "--endpoint-url", stack.url, "--region", "us-east-1", "-q", *args]


def tool_cmds(tool, stack):
    """(up, down) commands for a tool."""
    if tool == "aws-cli":
        return [os.path.join(BENCH, "lab-cli.sh"), "up"], [os.path.join(BENCH, "lab-cli.sh"), "down"]
    if tool == "boto3":
        py = [sys.executable, os.path.join(BENCH, "lab_boto3.py")]
        return py + ["up"], py + ["down"]
    return labctl_cmd(stack, "up"), labctl_cmd(stack, "down", "--yes")


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return dt


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def compare(stack, rounds):
    tools = ["aws-cli", "boto3", "labctl"]
    times = {t: {"up": [], "down": [], "total": []} for t in tools}
    requests = {}
    for r in range(rounds):
        order = tools[r % 3:] + tools[:r % 3]
        for tool in order:
            stack.reset()
            up, down = tool_cmds(tool, stack)
            env = env_for(stack)
            a = timed(up, env)
            b = timed(down, env)
            times[tool]["up"].append(a)
            times[tool]["down"].append(b)
            times[tool]["total"].append(a + b)
            if r == 0:
                requests[tool] = sum(c["count"] for c in stack.stats()["requests"])
        print(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{t} {times[t]['total'][-1]:.2f}s" for t in tools), file=sys.stderr)
    return times, requests


def command_timings(stack):
    """status, plan and --help timings; binary size; peak RSS of up."""
    stack.reset()
    env = env_for(stack)
    out = {}
    rss = None
    if os.path.exists("/usr/bin/time"):
        r = subprocess.run(["/usr/bin/time", "-v", *labctl_cmd(stack, "up")], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in r.stderr.splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.split(":")[1])
    else:
        timed(labctl_cmd(stack, "up"), env)
    out["up_peak_rss_kib"] = rss
    hyperfine = shutil.which("hyperfine")
    cases = {
        "status": labctl_cmd(stack, "status"),
        "plan": labctl_cmd(stack, "plan"),
        "help": [LABCTL, "--help"],
    }
    for name, cmd in cases.items():
        runs = 100 if name == "help" else 20
        if hyperfine:
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                subprocess.run([hyperfine, "-N", "--warmup", "3", "--runs", str(runs),
                                "--export-json", f.name, subprocess.list2cmdline(cmd)],
                               env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                res = json.load(open(f.name))["results"][0]
                out[name] = {"median_ms": res["median"] * 1000, "mean_ms": res["mean"] * 1000,
                             "runs": runs, "tool": "hyperfine"}
        else:
            xs = []
            for _ in range(runs):
                t = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                xs.append(time.perf_counter() - t)
            out[name] = {"median_ms": med(xs) * 1000, "runs": runs, "tool": "loop"}
    timed(labctl_cmd(stack, "down", "--yes"), env)
    out["binary_bytes"] = os.path.getsize(LABCTL)
    return out


def simulate(factor, rounds):
    stack = Stack(factor)
    try:
        cp = stack.info["critical_path"]
        env = env_for(stack, {"LABCTL_WAIT_SCALE": str(factor)})
        ups, downs, stats = [], [], None
        for r in range(rounds):
            stack.reset()
            ups.append(timed(labctl_cmd(stack, "up"), env) / factor)
            downs.append(timed(labctl_cmd(stack, "down", "--yes"), env) / factor)
            if r == 0:
                stats = stack.stats()
            print(f"  simulated round {r + 1}/{rounds}: up {ups[-1]:.1f}s, down {downs[-1]:.1f}s "
                  f"(simulated seconds)", file=sys.stderr)
        return {"factor": factor, "critical_path": cp, "durations": stack.info["durations"],
                "up_simulated_s": ups, "down_simulated_s": downs, "stats": stats}
    finally:
        stack.stop()


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    import boto3
    return {
        "labctl": out([LABCTL, "--version"]),
        "rustc": out(["rustc", "--version"]),
        "aws-cli": out([os.path.join(VENV_BIN, "aws"), "--version"]),
        "boto3": boto3.__version__,
        "moto": out([os.path.join(os.path.dirname(MOTO), "python"), "-c",
                     "import moto; print(moto.__version__)"]),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def report(res):
    t = res["compare"]["times"]
    print("\n## Provisioning benchmark\n")
    print("machine/versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items()))
    print(f"\nup + down of the lab, {res['rounds']} rounds, medians (seconds), same fresh stack:\n")
    print("| tool | up | down | up + down | requests | labctl is faster by |")
    print("|---|---|---|---|---|---|")
    lt = med(t["labctl"]["total"])
    for tool in ("aws-cli", "boto3", "labctl"):
        tot = med(t[tool]["total"])
        print(f"| {tool} | {med(t[tool]['up']):.3f} | {med(t[tool]['down']):.3f} | {tot:.3f} | "
              f"{res['compare']['requests'].get(tool, '?')} | {tot / lt:.1f}x |")
    c = res["commands"]
    print("\n| measure | value | target |")
    print("|---|---|---|")
    print(f"| `labctl status` (median, {c['status']['tool']}) | {c['status']['median_ms']:.1f} ms | < 300 ms |")
    print(f"| `labctl plan` (median) | {c['plan']['median_ms']:.1f} ms | < 300 ms |")
    print(f"| `labctl --help` (median) | {c['help']['median_ms']:.2f} ms | < 20 ms |")
    print(f"| release binary | {c['binary_bytes'] / 2**20:.1f} MiB | recorded |")
    if c.get("up_peak_rss_kib"):
        print(f"| peak RSS of `up` | {c['up_peak_rss_kib'] / 1024:.1f} MiB | recorded |")
    s = res.get("simulation")
    if s:
        cp = s["critical_path"]
        up, down = med(s["up_simulated_s"]), med(s["down_simulated_s"])
        print(f"\nSimulated AWS transitions (factor {s['factor']}; durations at factor 1: "
              + ", ".join(f"{k} {v:.0f}s" for k, v in s["durations"].items())
              + f"), {len(s['up_simulated_s'])} rounds, medians in simulated seconds:\n")
        print("| command | labctl | critical path | over | chain |")
        print("|---|---|---|---|---|")
        print(f"| up | {up:.1f} | {cp['up_seconds']:.1f} | {100 * (up / cp['up_seconds'] - 1):+.1f}% | {' → '.join(cp['up_chain'])} |")
        print(f"| down | {down:.1f} | {cp['down_seconds']:.1f} | {100 * (down / cp['down_seconds'] - 1):+.1f}% | {' → '.join(cp['down_chain'])} |")
        tot, cpt = up + down, cp["up_seconds"] + cp["down_seconds"]
        print(f"| up + down | {tot:.1f} | {cpt:.1f} | {100 * (tot / cpt - 1):+.1f}% | |")
        st = s["stats"]
        print("\nRequests per resource in one simulated up + down (describes and tag reads):\n")
        print("| operation | resource | requests |")
        print("|---|---|---|")
        for r in st["requests"]:
            if r["operation"].startswith(("Describe", "ListTags", "Get", "HEAD", "GET")):
                print(f"| {r['operation']} | {r['resource']} | {r['count']} |")
        print("\nBusiest simulated second per operation (whole account) vs documented limit:\n")
        print("| operation | peak per second | limit | within |")
        print("|---|---|---|---|")
        for p in st["peaks"]:
            if p.get("limit") is not None:
                ok = "yes" if p["per_second"] <= p["limit"] else "NO"
                print(f"| {p['operation']} | {p['per_second']} | {p['limit']:.0f} | {ok} |")


CLI_CONFIG = os.path.join(ROOT, ".labctl", "bench-aws-config")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--factor", type=float, default=0.1,
                    help="scale of the simulated AWS transition times (0 skips that part)")
    ap.add_argument("--sim-rounds", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(os.path.dirname(CLI_CONFIG), exist_ok=True)
    with open(CLI_CONFIG, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    res = {"rounds": a.rounds, "versions": versions()}
    stack = Stack(0.0)
    try:
        print("comparing the AWS CLI script, the boto3 script and labctl", file=sys.stderr)
        times, requests = compare(stack, a.rounds)
        res["compare"] = {"times": times, "requests": requests}
        print("timing status, plan, --help; size; peak memory", file=sys.stderr)
        res["commands"] = command_timings(stack)
    finally:
        stack.stop()
    if a.factor > 0:
        print(f"simulated AWS transitions, factor {a.factor}", file=sys.stderr)
        res["simulation"] = simulate(a.factor, a.sim_rounds)
    with open(os.path.join(ROOT, ".labctl", "bench-results.json"), "w") as f:
        json.dump(res, f, indent=1)
    report(res)


if __name__ == "__main__":
    main()
