#!/usr/bin/env python3
"""The documents the anchors send, taken from what labctl sends for the same spec, so the
AWS CLI script and the boto3 script create exactly what labctl creates (same policies,
same delivery stream and application configuration, same dashboard body, same alarms,
same tags, the same code artifact).

How: a fresh zero-latency local stack; `labctl up` through a small recording proxy (the
JSON-protocol requests are kept as they were sent: CreateStream, AddTagsToStream,
CreateLogGroup, PutRetentionPolicy, CreateLogStream, CreateDeliveryStream,
CreateApplication, StartApplication); the query-protocol resources (IAM, CloudWatch,
SNS) and the bucket settings read back from the endpoint; the artifact downloaded; then
`labctl down`. This happens once, before any timing: the anchors start with their
documents and the zip ready on disk, as a careful engineer keeps them next to a script
(`file://…`); labctl builds its zip during its `up` (from its cache), which is counted
in its time.

Writes DIR/calls.json (operation -> list of API inputs, usable as boto3 keyword
arguments), DIR/cli/NN-<operation>.json (one `--cli-input-json` file per call) and
DIR/artifact.zip. Usage: anchor_inputs.py DIR  (env: LABCTL_BIN, LABCTL_LOCAL_BIN,
LABCTL_MOTO_SERVER as for driver.py)
"""
import sys

sys.dont_write_bytecode = True  # no __pycache__ in bench/

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import driver  # noqa: E402  (stack helpers)

KEEP = {"CreateStream", "AddTagsToStream", "CreateLogGroup", "PutRetentionPolicy",
        "CreateLogStream", "CreateDeliveryStream", "CreateApplication", "StartApplication"}


def recording_proxy(upstream_port, calls):
    """A proxy on a free port forwarding to 127.0.0.1:upstream_port, keeping KEEP bodies."""

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    body += self.rfile.read(size)
                    self.rfile.readline()
            else:
                n = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(n) if n else b""
            op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
            if op in KEEP:
                calls.setdefault(op, []).append(json.loads(body))
            c = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("connection", "transfer-encoding", "content-length", "expect")}
            headers["Content-Length"] = str(len(body))
            c.request(self.command, self.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            c.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def policy(s3, bucket):
    """The bucket policy labctl put (its TLS-only statement), or None."""
    try:
        return s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except s3.exceptions.ClientError:
        return None


def read_back(endpoint, calls):
    c = lambda n: boto3.client(n, endpoint_url=endpoint, region_name="us-east-1",  # noqa: E731
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(s3={"addressing_style": "path"}))
    iam = c("iam")
    for r in iam.list_roles()["Roles"]:
        n = r["RoleName"]
        calls.setdefault("CreateRole", []).append({
            "Path": r["Path"], "RoleName": n, "Description": r.get("Description", ""),
            "AssumeRolePolicyDocument": json.dumps(r["AssumeRolePolicyDocument"]),
            "Tags": iam.list_role_tags(RoleName=n)["Tags"]})
        for p in iam.list_role_policies(RoleName=n)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=n, PolicyName=p)["PolicyDocument"]
            calls.setdefault("PutRolePolicy", []).append(
                {"RoleName": n, "PolicyName": p, "PolicyDocument": json.dumps(doc)})
    cw = c("cloudwatch")
    for d in cw.list_dashboards()["DashboardEntries"]:
        body = cw.get_dashboard(DashboardName=d["DashboardName"])["DashboardBody"]
        calls.setdefault("PutDashboard", []).append({"DashboardName": d["DashboardName"], "DashboardBody": body})
    for a in cw.describe_alarms()["MetricAlarms"]:
        keep = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
                "InsufficientDataActions", "MetricName", "Namespace", "Statistic", "Dimensions",
                "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData",
                "DatapointsToAlarm", "Unit", "ExtendedStatistic")
        args = {k: a[k] for k in keep if k in a}
        args["Tags"] = cw.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]
        calls.setdefault("PutMetricAlarm", []).append(args)
    sns = c("sns")
    for t in sns.list_topics()["Topics"]:
        calls.setdefault("CreateTopic", []).append({
            "Name": t["TopicArn"].rsplit(":", 1)[-1],
            "Tags": sns.list_tags_for_resource(ResourceArn=t["TopicArn"])["Tags"]})
    s3 = c("s3")
    (b,) = [x["Name"] for x in s3.list_buckets()["Buckets"]]
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]]
    zips = [k for k in objects if k.endswith(".zip")]
    calls["Bucket"] = [{
        "Bucket": b,
        "Tagging": {"TagSet": s3.get_bucket_tagging(Bucket=b)["TagSet"]},
        "Folders": [k for k in objects if k.endswith("/")],
        "Policy": policy(s3, b),
        "ArtifactKey": zips[0],
    }]
    return s3, b, zips[0]


def main(out):
    os.makedirs(out, exist_ok=True)
    stack = driver.Stack(0.0)
    calls = {}
    env = driver.env_for(stack)
    if os.environ.get("BENCH_RECORD_PROXY"):
        proxy = recording_proxy(int(stack.url.rsplit(":", 1)[1]), calls)
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
    else:
        # The JSON-protocol inputs as recorded from labctl's requests (bench/anchor-json-calls.json,
        # recorded through the proxy above at commit b21e227); the benchmark's after-up
        # check shows whether the anchors still build exactly what labctl builds.
        proxy = None
        calls.update(json.load(open(os.path.join(HERE, "anchor-json-calls.json"))))
        url = stack.url
    try:
        work = tempfile.mkdtemp(prefix="labctl-bench-")
        spec = driver.own_spec(work)  # its own journal and run lock
        cmd = [driver.LABCTL, "-f", spec, "--endpoint-url", url, "--region", "us-east-1", "-q", "up"]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=work)
        s3, bucket, key = read_back(stack.url, calls)
        s3.download_file(bucket, key, os.path.join(out, "artifact.zip"))
        subprocess.run(driver.labctl_cmd(stack, spec, "down", "--yes"), env=env, check=True, stdout=subprocess.DEVNULL,
                       cwd=work)
    finally:
        if proxy:
            proxy.shutdown()
        stack.stop()
    with open(os.path.join(out, "calls.json"), "w") as f:
        json.dump(calls, f, indent=1, sort_keys=True)
    cli = os.path.join(out, "cli")
    shutil.rmtree(cli, ignore_errors=True)
    os.makedirs(cli)
    for op, inputs in calls.items():
        for i, args in enumerate(inputs):
            with open(os.path.join(cli, f"{op}-{i}.json"), "w") as f:
                json.dump(args, f)
    print(json.dumps({op: len(v) for op, v in calls.items()}))


if __name__ == "__main__":
    main(sys.argv[1])
