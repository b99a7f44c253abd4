#!/usr/bin/env python3
"""Producer benchmark on the local stack (`labctl-local serve` before moto, as
`scripts/local-stack start` runs it). Every rate is records *stored* (read back from the
stream with GetRecords) per second of wall time; every sample writes to its own fresh
on-demand stream (the lab's kind), so no sample pays for what an earlier one stored.

1. The stack's ceiling: labctl-shaped PutRecords (500 records from `labctl produce
   --dry-run --out`, partition key = sensor id), pre-built and replayed by 1, 2, 4, 8, 16
   threads (requests in flight) over keep-alive connections; the ceiling is the best
   level's median.
2. `labctl produce --max` (8 in flight, its default) and at the ceiling's best level.
3. boto3 at its best: bench/boto3_producer.py with threads, at 8 and at the best level.
4. `labctl produce --dry-run` on one core: generation, JSON, PutRecords entries and
   500-record batches; NOT the request body (base64 + JSON) nor SigV4 signing nor HTTP.
   The second figure includes them: `labctl produce --max` against bench/sink.py (accepts
   every PutRecords, stores nothing), labctl on core 0 and the sink on core 1; the sink
   bounds that figure from below.

Usage: produce.py [--records N] [--samples K] [--sensors S]   (prints JSON)
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in bench/

import argparse
import base64
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import driver  # noqa: E402

LEVELS = (1, 2, 4, 8, 16)


class LocalStack:
    def __init__(self):
        self.moto_port = driver.free_port()
        self.moto = subprocess.Popen([driver.MOTO, "-H", "127.0.0.1", "-p", str(self.moto_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver.wait_port(self.moto_port, "moto_server", self.moto)
        self.port = driver.free_port()
        self.front = subprocess.Popen(
            [driver.LABCTL_LOCAL, "serve", "--port", str(self.port),
             "--upstream", f"http://127.0.0.1:{self.moto_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver.wait_port(self.port, "labctl-local serve", self.front)
        self.url = f"http://127.0.0.1:{self.port}"
        self.kinesis = boto3.client("kinesis", endpoint_url=self.url, region_name="us-east-1",
                                    aws_access_key_id="bench", aws_secret_access_key="bench",
                                    config=Config(retries={"max_attempts": 10}))
        self.n = 0

    def stream(self):
        self.n += 1
        name = f"bench-{self.n}"
        self.kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        self.kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
        return name

    def stored(self, name):
        n = 0
        for s in self.kinesis.list_shards(StreamName=name)["Shards"]:
            it = self.kinesis.get_shard_iterator(StreamName=name, ShardId=s["ShardId"],
                                                 ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while True:
                r = self.kinesis.get_records(ShardIterator=it, Limit=10000)
                n += len(r["Records"])
                it = r["NextShardIterator"]
                if not r["Records"]:
                    break
        return n

    def stop(self):
        for p in (self.front, self.moto):
            p.terminate()
            p.wait(10)


def labctl_records(count, sensors):
    """`count` records as labctl produces them: (data bytes, partition key)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        subprocess.run([driver.LABCTL, "produce", "--stream-name", "none", "--dry-run", "--max",
                        "--count", str(count), "--sensors", str(sensors), "--seed", "1",
                        "--out", f.name, "-q"], check=True, stdout=subprocess.DEVNULL)
        out = []
        for line in open(f.name, "rb"):
            line = line.rstrip(b"\n")
            out.append((line, json.loads(line)["sensor_id"]))
        return out


def bodies(records, stream):
    out = []
    for i in range(0, len(records), 500):
        out.append(json.dumps({"StreamName": stream, "Records": [
            {"Data": base64.b64encode(d).decode(), "PartitionKey": k} for d, k in records[i:i + 500]]}).encode())
    return out


def replay(stack, records, in_flight):
    """Pre-built PutRecords replayed by `in_flight` threads; stored records per second."""
    name = stack.stream()
    q = queue.Queue()
    for b in bodies(records, name):
        q.put(b)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecords",
               "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/kinesis/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    failed = []

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=120)
        while True:
            try:
                b = q.get_nowait()
            except queue.Empty:
                break
            c.request("POST", "/", body=b, headers=headers)
            r = c.getresponse()
            data = r.read()
            if r.status != 200 or json.loads(data).get("FailedRecordCount"):
                failed.append(r.status)
        c.close()

    t = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(in_flight)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t
    stored = stack.stored(name)
    return {"seconds": dt, "stored": stored, "sent": len(records), "failed_requests": len(failed),
            "stored_per_second": stored / dt}


def run_labctl(stack, count, sensors, in_flight):
    name = stack.stream()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    t = time.perf_counter()
    r = subprocess.run([driver.LABCTL, "produce", "--stream-name", name, "--max", "--count", str(count),
                        "--sensors", str(sensors), "--seed", "1", "--in-flight", str(in_flight),
                        "--endpoint-url", stack.url, "--region", "us-east-1", "--output", "json", "-q"],
                       env=env, stdout=subprocess.PIPE, text=True, check=True)
    dt = time.perf_counter() - t
    own = json.loads(r.stdout)
    stored = stack.stored(name)
    return {"seconds": dt, "stored": stored, "sent": own.get("sent"), "stored_per_second": stored / dt,
            "labctl_reported_records_per_second": own.get("records_per_second")}


def run_boto3(stack, count, sensors, in_flight):
    name = stack.stream()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(HERE, "boto3_producer.py"), stack.url, name,
                        str(count), str(sensors), str(in_flight)], env=env, stdout=subprocess.PIPE,
                       text=True, check=True)
    dt = time.perf_counter() - t
    stored = stack.stored(name)
    return {"seconds": dt, "stored": stored, "sent": json.loads(r.stdout)["sent"], "stored_per_second": stored / dt}


def stats(samples):
    xs = [s["stored_per_second"] for s in samples]
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "samples": samples}


def dry_run(count, sensors):
    cmd = ["taskset", "-c", "0", driver.LABCTL, "produce", "--stream-name", "none", "--dry-run", "--max",
           "--count", str(count), "--sensors", str(sensors), "--output", "json", "-q"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(r.stdout)["records_per_second"]


def via_sink(count, sensors):
    port = driver.free_port()
    sink = subprocess.Popen(["taskset", "-c", "1", sys.executable, os.path.join(HERE, "sink.py"), str(port)])
    try:
        driver.wait_port(port, "sink", sink)
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
        r = subprocess.run(["taskset", "-c", "0", driver.LABCTL, "produce", "--stream-name", "sink", "--max",
                            "--count", str(count), "--sensors", str(sensors), "--endpoint-url",
                            f"http://127.0.0.1:{port}", "--region", "us-east-1", "--output", "json", "-q"],
                           env=env, stdout=subprocess.PIPE, text=True, check=True)
        return json.loads(r.stdout)["records_per_second"]
    finally:
        sink.terminate()
        sink.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000, help="records per sample")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--sensors", type=int, default=10, help="labctl's default")
    ap.add_argument("--dry-count", type=int, default=2000000)
    a = ap.parse_args()
    records = labctl_records(a.records, a.sensors)
    stack = LocalStack()
    res = {"records_per_sample": a.records, "samples": a.samples, "sensors": a.sensors, "stream": "on-demand"}
    try:
        ceiling = {}
        for level in LEVELS:
            ceiling[str(level)] = stats([replay(stack, records, level) for _ in range(a.samples)])
            print(f"  ceiling, {level} in flight: {ceiling[str(level)]['median']:.0f} records/s", file=sys.stderr)
        best = max(LEVELS, key=lambda lv: ceiling[str(lv)]["median"])
        res["ceiling"] = {"by_in_flight": ceiling, "best_in_flight": best,
                          "records_per_second": ceiling[str(best)]["median"]}
        levels = sorted({8, best})
        res["labctl"] = {str(lv): stats([run_labctl(stack, a.records, a.sensors, lv) for _ in range(a.samples)])
                         for lv in levels}
        res["boto3"] = {str(lv): stats([run_boto3(stack, a.records, a.sensors, lv) for _ in range(a.samples)])
                        for lv in levels}
        for who in ("labctl", "boto3"):
            for lv in levels:
                print(f"  {who}, {lv} in flight: {res[who][str(lv)]['median']:.0f} stored records/s", file=sys.stderr)
    finally:
        stack.stop()
    res["dry_run_one_core"] = {
        "records_per_second": statistics.median(dry_run(a.dry_count, a.sensors) for _ in range(a.samples)),
        "includes": "generation, JSON serialization of each reading, PutRecords entries, 500-record batches",
        "excludes": "the request body (base64 + JSON), SigV4 signing, HTTP"}
    res["sink_labctl_core0_sink_core1"] = {
        "records_per_second": statistics.median(via_sink(a.records * 10, a.sensors) for _ in range(a.samples)),
        "includes": "everything --dry-run does plus the SDK's request serialization, SigV4 signing and HTTP "
                    "over loopback to bench/sink.py (Python, stores nothing), which bounds it"}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
