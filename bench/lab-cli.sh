#!/usr/bin/env bash
# Anchor 1 for the provisioning benchmark: the lab's steps as a user would run them
# with the AWS CLI, one command at a time, with the waits the CLI offers (a waiter for
# Kinesis, a describe loop for Firehose, which has none). Creates the same resources
# labctl creates from bench/pipeline.yaml (bucket with folders, encryption, public
# access block and tags; on-demand stream; the delivery role with its inline policy; two log
# groups; two delivery streams; the dashboard), or removes them again.
# Usage: bench/lab-cli.sh up|down   (env: ENDPOINT, AWS_* credentials; aws on PATH)
set -euo pipefail
: "${ENDPOINT:?set ENDPOINT to the local stack URL}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_PAGER=""
region="$AWS_DEFAULT_REGION"
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
account=$(aws sts get-caller-identity --query Account --output text)
bucket="stream-data-$account-$region"
stream=sensor-data-stream
raw=sensor-data-delivery
processed=processed-sensor-data
drole=labctl-streaming-lab-delivery
dashboard=Streaming-Pipeline-Dashboard
tag='Key=labctl:pipeline,Value=streaming-lab'
stream_arn="arn:aws:kinesis:$region:$account:stream/$stream"
drole_arn="arn:aws:iam::$account:role/$drole"
poll=5   # seconds between Firehose describes, as a hand-written script would

firehose_status() { aws firehose describe-delivery-stream --delivery-stream-name "$1" --query DeliveryStreamDescription.DeliveryStreamStatus --output text 2>/dev/null || echo GONE; }

up() {
  # Step 1: the bucket and its folders.
  aws s3 mb "s3://$bucket" >/dev/null
  aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
  aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  aws s3api put-bucket-tagging --bucket "$bucket" --tagging "TagSet=[{$tag}]"
  aws s3api put-object --bucket "$bucket" --key raw-stream/ >/dev/null
  aws s3api put-object --bucket "$bucket" --key processed-stream/ >/dev/null
  # Step 2: the stream, and wait until it is ACTIVE.
  aws kinesis create-stream --stream-name "$stream" --stream-mode-details StreamMode=ON_DEMAND
  aws kinesis wait stream-exists --stream-name "$stream"
  aws kinesis add-tags-to-stream --stream-name "$stream" --tags labctl:pipeline=streaming-lab
  # Roles with inline policies (the lab's "create or select an IAM role").
  aws iam create-role --role-name "$drole" --tags "$tag" --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}' >/dev/null
  aws iam put-role-policy --role-name "$drole" --policy-name labctl-inline --policy-document "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:AbortMultipartUpload\",\"s3:GetBucketLocation\",\"s3:GetObject\",\"s3:ListBucket\",\"s3:ListBucketMultipartUploads\",\"s3:PutObject\"],\"Resource\":[\"arn:aws:s3:::$bucket\",\"arn:aws:s3:::$bucket/*\"]},{\"Effect\":\"Allow\",\"Action\":[\"kinesis:DescribeStream\",\"kinesis:GetShardIterator\",\"kinesis:GetRecords\",\"kinesis:ListShards\"],\"Resource\":\"$stream_arn\"},{\"Effect\":\"Allow\",\"Action\":\"logs:PutLogEvents\",\"Resource\":\"arn:aws:logs:$region:$account:log-group:/aws/kinesisfirehose/*\"}]}"
  # Error logging for both delivery streams.
  for ds in "$raw" "$processed"; do
    aws logs create-log-group --log-group-name "/aws/kinesisfirehose/$ds" --tags labctl:pipeline=streaming-lab
    aws logs put-retention-policy --log-group-name "/aws/kinesisfirehose/$ds" --retention-in-days 7
    aws logs create-log-stream --log-group-name "/aws/kinesisfirehose/$ds" --log-stream-name DestinationDelivery
  done
  # Steps 3 and 6: the delivery streams, each waited for until ACTIVE.
  dest() { # prefix error-prefix log-group
    echo "{\"RoleARN\":\"$drole_arn\",\"BucketARN\":\"arn:aws:s3:::$bucket\",\"Prefix\":\"$1\",\"ErrorOutputPrefix\":\"$2\",\"BufferingHints\":{\"IntervalInSeconds\":60,\"SizeInMBs\":1},\"CompressionFormat\":\"UNCOMPRESSED\",\"EncryptionConfiguration\":{\"NoEncryptionConfig\":\"NoEncryption\"},\"CloudWatchLoggingOptions\":{\"Enabled\":true,\"LogGroupName\":\"$3\",\"LogStreamName\":\"DestinationDelivery\"}}"
  }
  aws firehose create-delivery-stream --delivery-stream-name "$raw" --delivery-stream-type KinesisStreamAsSource \
    --kinesis-stream-source-configuration "KinesisStreamARN=$stream_arn,RoleARN=$drole_arn" \
    --extended-s3-destination-configuration "$(dest 'raw-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/' 'errors/raw/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/' "/aws/kinesisfirehose/$raw")" \
    --tags "$tag" >/dev/null
  until [ "$(firehose_status "$raw")" = ACTIVE ]; do sleep "$poll"; done
  aws firehose create-delivery-stream --delivery-stream-name "$processed" --delivery-stream-type DirectPut \
    --extended-s3-destination-configuration "$(dest 'processed-stream/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/' 'errors/processed/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/' "/aws/kinesisfirehose/$processed")" \
    --tags "$tag" >/dev/null
  until [ "$(firehose_status "$processed")" = ACTIVE ]; do sleep "$poll"; done
  # Step 7: the dashboard.
  aws cloudwatch put-dashboard --dashboard-name "$dashboard" --dashboard-body "{\"widgets\":[{\"type\":\"metric\",\"x\":0,\"y\":0,\"width\":12,\"height\":6,\"properties\":{\"title\":\"Kinesis stream\",\"region\":\"$region\",\"metrics\":[[\"AWS/Kinesis\",\"IncomingRecords\",\"StreamName\",\"$stream\"],[\"AWS/Kinesis\",\"GetRecords.Success\",\"StreamName\",\"$stream\"]]}},{\"type\":\"metric\",\"x\":12,\"y\":0,\"width\":12,\"height\":6,\"properties\":{\"title\":\"Firehose to S3\",\"region\":\"$region\",\"metrics\":[[\"AWS/Firehose\",\"DeliveryToS3.Success\",\"DeliveryStreamName\",\"$raw\"],[\"AWS/Firehose\",\"DeliveryToS3.Success\",\"DeliveryStreamName\",\"$processed\"]]}}]}" >/dev/null
}

down() {
  # The lab's cleanup steps, plus what the lab created by hand.
  aws cloudwatch delete-dashboards --dashboard-names "$dashboard"
  aws firehose delete-delivery-stream --delivery-stream-name "$raw"
  aws firehose delete-delivery-stream --delivery-stream-name "$processed"
  until [ "$(firehose_status "$raw")" = GONE ] && [ "$(firehose_status "$processed")" = GONE ]; do sleep "$poll"; done
  aws kinesis delete-stream --stream-name "$stream"
  aws kinesis wait stream-not-exists --stream-name "$stream"
  for ds in "$raw" "$processed"; do aws logs delete-log-group --log-group-name "/aws/kinesisfirehose/$ds"; done
  for r in "$drole"; do
    aws iam delete-role-policy --role-name "$r" --policy-name labctl-inline
    aws iam delete-role --role-name "$r"
  done
  aws s3 rb "s3://$bucket" --force >/dev/null
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: bench/lab-cli.sh up|down" >&2; exit 2 ;;
esac
