#!/usr/bin/env python3
"""Anchor 2 for the provisioning benchmark: the lab's steps as one sequential boto3
script, with the waits it needs (the Kinesis waiters; a describe loop for Firehose,
which has no waiter). Creates, or removes, the same resources as bench/lab-cli.sh and
labctl with bench/pipeline.yaml.

Usage: bench/lab_boto3.py up|down   (env: ENDPOINT, AWS_* credentials)
"""
import json
import os
import sys
import time

import boto3
from botocore.config import Config

ENDPOINT = os.environ["ENDPOINT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
POLL = 5  # seconds between Firehose describes, as a hand-written script would
TAG = {"Key": "labctl:pipeline", "Value": "streaming-lab"}
STREAM, RAW, PROCESSED = "sensor-data-stream", "sensor-data-delivery", "processed-sensor-data"
DROLE = "labctl-streaming-lab-delivery"
DASHBOARD = "Streaming-Pipeline-Dashboard"


def client(name):
    cfg = Config(s3={"addressing_style": "path"}) if name == "s3" else None
    return boto3.client(name, endpoint_url=ENDPOINT, region_name=REGION, config=cfg)


s3, kinesis, iam, logs, firehose, cw = (
    client(n) for n in ("s3", "kinesis", "iam", "logs", "firehose", "cloudwatch")
)
ACCOUNT = client("sts").get_caller_identity()["Account"]
BUCKET = f"stream-data-{ACCOUNT}-{REGION}"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{STREAM}"
DROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{DROLE}"


def firehose_status(name):
    try:
        d = firehose.describe_delivery_stream(DeliveryStreamName=name)
        return d["DeliveryStreamDescription"]["DeliveryStreamStatus"]
    except firehose.exceptions.ResourceNotFoundException:
        return "GONE"


def wait_firehose(name, want):
    while firehose_status(name) != want:
        time.sleep(POLL)


def trust(service):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def destination(prefix, error_prefix, group):
    return {
        "RoleARN": DROLE_ARN, "BucketARN": f"arn:aws:s3:::{BUCKET}",
        "Prefix": prefix, "ErrorOutputPrefix": error_prefix,
        "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 1},
        "CompressionFormat": "UNCOMPRESSED",
        "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
        "CloudWatchLoggingOptions": {"Enabled": True, "LogGroupName": group,
                                     "LogStreamName": "DestinationDelivery"},
    }


def up():
    # Step 1: bucket and folders.
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [TAG]})
    for key in ("raw-stream/", "processed-stream/"):
        s3.put_object(Bucket=BUCKET, Key=key)
    # Step 2: the stream, waited for.
    kinesis.create_stream(StreamName=STREAM, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM)
    kinesis.add_tags_to_stream(StreamName=STREAM, Tags={TAG["Key"]: TAG["Value"]})
    # Roles with inline policies.
    iam.create_role(RoleName=DROLE, AssumeRolePolicyDocument=trust("firehose.amazonaws.com"), Tags=[TAG])
    iam.put_role_policy(RoleName=DROLE, PolicyName="labctl-inline", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:GetBucketLocation",
                                           "s3:GetObject", "s3:ListBucket",
                                           "s3:ListBucketMultipartUploads", "s3:PutObject"],
             "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
            {"Effect": "Allow", "Action": ["kinesis:DescribeStream", "kinesis:GetShardIterator",
                                           "kinesis:GetRecords", "kinesis:ListShards"],
             "Resource": STREAM_ARN},
            {"Effect": "Allow", "Action": "logs:PutLogEvents",
             "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/kinesisfirehose/*"}]}))
    # Error logging.
    for ds in (RAW, PROCESSED):
        group = f"/aws/kinesisfirehose/{ds}"
        logs.create_log_group(logGroupName=group, tags={TAG["Key"]: TAG["Value"]})
        logs.put_retention_policy(logGroupName=group, retentionInDays=7)
        logs.create_log_stream(logGroupName=group, logStreamName="DestinationDelivery")
    # Steps 3 and 6: delivery streams, each waited for.
    firehose.create_delivery_stream(
        DeliveryStreamName=RAW, DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": STREAM_ARN, "RoleARN": DROLE_ARN},
        ExtendedS3DestinationConfiguration=destination(
            "raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
            "errors/raw/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
            f"/aws/kinesisfirehose/{RAW}"),
        Tags=[TAG])
    wait_firehose(RAW, "ACTIVE")
    firehose.create_delivery_stream(
        DeliveryStreamName=PROCESSED, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(
            "processed-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
            "errors/processed/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
            f"/aws/kinesisfirehose/{PROCESSED}"),
        Tags=[TAG])
    wait_firehose(PROCESSED, "ACTIVE")
    # Step 7: the dashboard.
    cw.put_dashboard(DashboardName=DASHBOARD, DashboardBody=json.dumps({"widgets": [
        {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {
            "title": "Kinesis stream", "region": REGION, "metrics": [
                ["AWS/Kinesis", "IncomingRecords", "StreamName", STREAM],
                ["AWS/Kinesis", "GetRecords.Success", "StreamName", STREAM]]}},
        {"type": "metric", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {
            "title": "Firehose to S3", "region": REGION, "metrics": [
                ["AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName", RAW],
                ["AWS/Firehose", "DeliveryToS3.Success", "DeliveryStreamName", PROCESSED]]}}]}))


def down():
    cw.delete_dashboards(DashboardNames=[DASHBOARD])
    for ds in (RAW, PROCESSED):
        firehose.delete_delivery_stream(DeliveryStreamName=ds)
    for ds in (RAW, PROCESSED):
        wait_firehose(ds, "GONE")
    kinesis.delete_stream(StreamName=STREAM)
    kinesis.get_waiter("stream_not_exists").wait(StreamName=STREAM)
    for ds in (RAW, PROCESSED):
        logs.delete_log_group(logGroupName=f"/aws/kinesisfirehose/{ds}")
    for role in (DROLE,):
        iam.delete_role_policy(RoleName=role, PolicyName="labctl-inline")
        iam.delete_role(RoleName=role)
    # Empty the bucket (all versions), then delete it.
    bucket = boto3.resource("s3", endpoint_url=ENDPOINT, region_name=REGION,
                            config=Config(s3={"addressing_style": "path"})).Bucket(BUCKET)
    bucket.object_versions.delete()
    bucket.objects.delete()
    s3.delete_bucket(Bucket=BUCKET)


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1] if len(sys.argv) > 1 else ""]()
