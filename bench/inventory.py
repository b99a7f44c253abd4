#!/usr/bin/env python3
"""What an endpoint holds, listed directly (not through labctl): buckets with their
objects, streams, delivery streams, roles with their inline and attached policies, log
groups with their log streams, Kinesis Analytics (v2) applications with their status,
dashboards, alarms and SNS topics. The benchmark lists the endpoint after every `down`
and fails when anything is left, and compares what each tool's `up` made.

Usage: inventory.py ENDPOINT [--empty]   (prints JSON; --empty exits 1 when anything is left)
Importable: inventory(endpoint) -> dict of kind -> sorted list.
"""
import json
import sys

import boto3
from botocore.config import Config


def _client(endpoint, name):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
    return boto3.client(name, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing", config=cfg)


def inventory(endpoint):
    c = lambda n: _client(endpoint, n)  # noqa: E731
    out = {}
    s3 = c("s3")
    out["buckets"] = []
    for b in s3.list_buckets().get("Buckets", []):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])]
        out["buckets"].append({"name": b["Name"], "objects": sorted(keys)})
    out["streams"] = sorted(c("kinesis").list_streams().get("StreamNames", []))
    out["delivery_streams"] = sorted(c("firehose").list_delivery_streams().get("DeliveryStreamNames", []))
    iam = c("iam")
    out["roles"] = []
    for r in iam.list_roles().get("Roles", []):
        n = r["RoleName"]
        out["roles"].append({
            "name": n, "path": r.get("Path"),
            "inline": sorted(iam.list_role_policies(RoleName=n).get("PolicyNames", [])),
            "attached": sorted(p["PolicyName"] for p in
                               iam.list_attached_role_policies(RoleName=n).get("AttachedPolicies", [])),
        })
    logs = c("logs")
    out["log_groups"] = []
    for g in logs.describe_log_groups().get("logGroups", []):
        n = g["logGroupName"]
        streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=n).get("logStreams", [])]
        out["log_groups"].append({"name": n, "retention": g.get("retentionInDays"), "streams": sorted(streams)})
    ka = c("kinesisanalyticsv2")
    out["applications"] = sorted(f"{a['ApplicationName']}:{a['ApplicationStatus']}" for a in
                                 ka.list_applications().get("ApplicationSummaries", []))
    cw = c("cloudwatch")
    out["dashboards"] = sorted(d["DashboardName"] for d in cw.list_dashboards().get("DashboardEntries", []))
    out["alarms"] = sorted(a["AlarmName"] for a in cw.describe_alarms().get("MetricAlarms", []))
    out["topics"] = sorted(t["TopicArn"].rsplit(":", 1)[-1] for t in c("sns").list_topics().get("Topics", []))
    for k in out:
        if isinstance(out[k], list) and out[k] and isinstance(out[k][0], dict):
            out[k].sort(key=lambda d: d["name"])
    return out


def left(inv):
    """The kinds that still hold something."""
    return {k: v for k, v in inv.items() if v}


if __name__ == "__main__":
    inv = inventory(sys.argv[1])
    print(json.dumps(inv, indent=1))
    if "--empty" in sys.argv[2:] and left(inv):
        sys.exit(1)
