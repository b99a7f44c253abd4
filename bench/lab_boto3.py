#!/usr/bin/env python3
"""Anchor 2 for the provisioning benchmark: the lab as a careful engineer writes it in
one boto3 process. Same work as `labctl up`/`down` on the shipped pipeline.yaml and as
bench/lab-cli.sh, application included, from the same documents (bench/anchor_inputs.py
took them from what labctl sends).

Best effort: independent resources are created together (threads) and waited for
together; every wait polls every 5 s (labctl's longest poll interval); a create refused
while IAM propagates a new role is retried (0.5 s, doubling to 5 s), only for the
refusals labctl also retries. `down` deletes what can go at once together and waits,
as labctl does, until every resource is gone.

Usage: bench/lab_boto3.py up|down   (env: ENDPOINT, INPUTS, AWS_* credentials,
BENCH_TIME_SCALE: factor of the simulated transition times, scales the waits, default 1)
"""
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ENDPOINT"]
INPUTS = os.environ["INPUTS"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
SCALE = float(os.environ.get("BENCH_TIME_SCALE", "1"))
POLL = 5 * SCALE
FIRST_RETRY, MAX_RETRY = 0.5 * SCALE, 5 * SCALE
PROPAGATION = re.compile(
    "Firehose is unable to assume role|is not authorized to perform|Access was denied|"
    "Verify that the IAM role has access|Kinesis Analytics service doesn.t have sufficient privileges|"
    "Kinesis Analytics doesn.t have sufficient privileges|Please check the role provided")
CALLS = json.load(open(os.path.join(INPUTS, "calls.json")))


def client(name):
    cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=20)
    return boto3.session.Session().client(name, endpoint_url=ENDPOINT, region_name=REGION, config=cfg)


s3, kinesis, iam, logs, firehose, cw, sns, flink = (client(n) for n in (
    "s3", "kinesis", "iam", "logs", "firehose", "cloudwatch", "sns", "kinesisanalyticsv2"))
BUCKET = CALLS["Bucket"][0]
STREAM = CALLS["CreateStream"][0]["StreamName"]
APP = CALLS["CreateApplication"][0]["ApplicationName"]
(RAW,) = [c for c in CALLS["CreateDeliveryStream"] if "KinesisStreamSourceConfiguration" in c]
(PROCESSED,) = [c for c in CALLS["CreateDeliveryStream"] if "KinesisStreamSourceConfiguration" not in c]


def code(e):
    return e.response.get("Error", {}).get("Code", "")


def status(kind, name):
    """The resource's status word, or GONE when the service says it does not exist."""
    try:
        if kind == "stream":
            return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        if kind == "delivery":
            return firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]["DeliveryStreamStatus"]
        return flink.describe_application(ApplicationName=name)["ApplicationDetail"]["ApplicationStatus"]
    except ClientError as e:
        if code(e) == "ResourceNotFoundException":
            return "GONE"
        raise


def until(kind, name, want):
    while (s := status(kind, name)) != want:
        if "FAILED" in s:
            raise SystemExit(f"{kind} {name} is {s}")
        time.sleep(POLL)


def retry_iam(call, **args):
    delay = FIRST_RETRY
    while True:
        try:
            return call(**args)
        except ClientError as e:
            if code(e) != "InvalidArgumentException" or not PROPAGATION.search(str(e)):
                raise
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY)


def run_all(*fns):
    """Run the functions together; re-raise the first failure."""
    with ThreadPoolExecutor(len(fns)) as pool:
        for f in [pool.submit(fn) for fn in fns]:
            f.result()


def up():
    def bucket():
        s3.create_bucket(Bucket=BUCKET["Bucket"])
        b = BUCKET["Bucket"]
        run_all(
            lambda: s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}),
            lambda: s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True}),
            lambda: s3.put_bucket_tagging(Bucket=b, Tagging=BUCKET["Tagging"]),
            *[(lambda k=k: s3.put_object(Bucket=b, Key=k)) for k in BUCKET["Folders"]],
            *([lambda: s3.put_bucket_policy(Bucket=b, Policy=BUCKET["Policy"])] if BUCKET.get("Policy") else []))

    def stream():
        kinesis.create_stream(**CALLS["CreateStream"][0])
        kinesis.add_tags_to_stream(**CALLS["AddTagsToStream"][0])

    def role(i):
        iam.create_role(**CALLS["CreateRole"][i])
        iam.put_role_policy(**CALLS["PutRolePolicy"][i])

    def log_group(i):
        logs.create_log_group(**CALLS["CreateLogGroup"][i])
        run_all(lambda: logs.put_retention_policy(**CALLS["PutRetentionPolicy"][i]),
                lambda: logs.create_log_stream(**CALLS["CreateLogStream"][i]))

    def alarms():
        sns.create_topic(**CALLS["CreateTopic"][0])
        run_all(*[(lambda a=a: cw.put_metric_alarm(**a)) for a in CALLS["PutMetricAlarm"]])

    def dashboard():
        cw.put_dashboard(**CALLS["PutDashboard"][0])

    def processed():
        retry_iam(firehose.create_delivery_stream, **PROCESSED)
        until("delivery", PROCESSED["DeliveryStreamName"], "ACTIVE")

    def raw():
        until("stream", STREAM, "ACTIVE")
        retry_iam(firehose.create_delivery_stream, **RAW)
        until("delivery", RAW["DeliveryStreamName"], "ACTIVE")

    def application():
        s3.upload_file(os.path.join(INPUTS, "artifact.zip"), BUCKET["Bucket"], BUCKET["ArtifactKey"])
        retry_iam(flink.create_application, **CALLS["CreateApplication"][0])
        until("stream", STREAM, "ACTIVE")
        until("delivery", PROCESSED["DeliveryStreamName"], "ACTIVE")
        flink.start_application(**CALLS["StartApplication"][0])
        until("app", APP, "RUNNING")

    with ThreadPoolExecutor(16) as pool:
        first = [pool.submit(bucket),
                 *[pool.submit(role, i) for i in range(len(CALLS["CreateRole"]))],
                 *[pool.submit(log_group, i) for i in range(len(CALLS["CreateLogGroup"]))]]
        rest = [pool.submit(stream), pool.submit(alarms), pool.submit(dashboard)]
        # The delivery streams and the application need the bucket, roles and log groups.
        for f in first:
            f.result()
        rest += [pool.submit(processed), pool.submit(raw), pool.submit(application)]
        for f in rest:
            f.result()


def down():
    def gone_after(kind, name, delete):
        try:
            delete()
        except ClientError as e:
            if code(e) != "ResourceNotFoundException":
                raise
        until(kind, name, "GONE")

    def application():
        d = flink.describe_application(ApplicationName=APP)["ApplicationDetail"]
        # DeleteApplication halts a running application and deletes it (Managed Flink
        # API reference, DeleteApplication).
        gone_after("app", APP, lambda: flink.delete_application(
            ApplicationName=APP, CreateTimestamp=d["CreateTimestamp"]))

    def alarms():
        cw.delete_alarms(AlarmNames=[a["AlarmName"] for a in CALLS["PutMetricAlarm"]])
        arn = f"arn:aws:sns:{REGION}:{sns_account()}:{CALLS['CreateTopic'][0]['Name']}"
        sns.delete_topic(TopicArn=arn)

    def bucket():
        b = boto3.session.Session().resource("s3", endpoint_url=ENDPOINT, region_name=REGION,
                                             config=Config(s3={"addressing_style": "path"})).Bucket(BUCKET["Bucket"])
        b.objects.all().delete()
        b.delete()

    def roles():
        run_all(*[(lambda p=p: (iam.delete_role_policy(RoleName=p["RoleName"], PolicyName=p["PolicyName"]),
                                iam.delete_role(RoleName=p["RoleName"]))) for p in CALLS["PutRolePolicy"]])

    with ThreadPoolExecutor(16) as pool:
        users = [pool.submit(application),
                 pool.submit(gone_after, "delivery", RAW["DeliveryStreamName"],
                             lambda: firehose.delete_delivery_stream(DeliveryStreamName=RAW["DeliveryStreamName"])),
                 pool.submit(gone_after, "delivery", PROCESSED["DeliveryStreamName"],
                             lambda: firehose.delete_delivery_stream(DeliveryStreamName=PROCESSED["DeliveryStreamName"]))]
        rest = [pool.submit(gone_after, "stream", STREAM, lambda: kinesis.delete_stream(StreamName=STREAM)),
                pool.submit(lambda: cw.delete_dashboards(DashboardNames=[CALLS["PutDashboard"][0]["DashboardName"]])),
                pool.submit(alarms)]
        # The bucket, the log groups and the roles once their writers and users are gone.
        for f in users:
            f.result()
        rest += [pool.submit(bucket), pool.submit(roles),
                 *[pool.submit(lambda g=g: logs.delete_log_group(logGroupName=g["logGroupName"]))
                   for g in CALLS["CreateLogGroup"]]]
        for f in rest:
            f.result()


_account = []


def sns_account():
    if not _account:
        _account.append(client("sts").get_caller_identity()["Account"])
    return _account[0]


if __name__ == "__main__":
    {"up": up, "down": down}.get(sys.argv[1] if len(sys.argv) > 1 else "", lambda: sys.exit(
        "usage: bench/lab_boto3.py up|down"))()
