#!/usr/bin/env bash
# Anchor 1 for the provisioning benchmark: the lab as a careful engineer writes it with
# the AWS CLI. Same work as `labctl up`/`down` on the shipped pipeline.yaml, application
# included: the bucket (encryption, public access block, tags, folders, the code zip),
# the on-demand stream, both roles with their inline policies, three log groups with
# retention and log stream, both delivery streams, the Flink application (created,
# started, waited for until RUNNING), the dashboard, the topic and four alarms. The
# documents (policies, delivery and application configuration, dashboard body, alarms)
# are the ones labctl sends, prepared by bench/anchor_inputs.py as --cli-input-json files.
#
# Best effort: independent resources are created together (background jobs) and waited
# for together; every wait polls every 5 s (labctl's longest poll interval); a create
# refused while IAM propagates a new role is retried (0.5 s, doubling to 5 s), only for
# the refusals labctl also retries. `down` deletes what can go at once together and waits,
# as labctl does, until every resource is gone.
# Usage: bench/lab-cli.sh up|down
#   env: ENDPOINT, INPUTS (dir from anchor_inputs.py), AWS_* credentials, aws on PATH,
#        BENCH_TIME_SCALE (factor of the simulated transition times; scales the waits, default 1)
set -euo pipefail
: "${ENDPOINT:?set ENDPOINT to the local stack URL}" "${INPUTS:?set INPUTS to anchor_inputs.py output}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_PAGER=""
scale="${BENCH_TIME_SCALE:-1}"
poll=$(python3 -c "print(5 * $scale)")
first_retry=$(python3 -c "print(0.5 * $scale)")
max_retry=$poll
in="$INPUTS/cli"
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
j() { echo "file://$in/$1.json"; }
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))$2; print(v if isinstance(v, str) else json.dumps(v))" "$in/$1.json"; }

bucket=$(field Bucket-0 "['Bucket']")
key=$(field Bucket-0 "['ArtifactKey']")
stream=$(field CreateStream-0 "['StreamName']")
app=$(field CreateApplication-0 "['ApplicationName']")
dashboard=$(field PutDashboard-0 "['DashboardName']")
topic=$(field CreateTopic-0 "['Name']")
# The delivery stream reading the Kinesis stream, and the Direct PUT one.
raw_call=$(grep -l KinesisStreamSourceConfiguration "$in"/CreateDeliveryStream-*.json | head -1 | xargs basename | sed 's/\.json$//')
processed_call=$(grep -L KinesisStreamSourceConfiguration "$in"/CreateDeliveryStream-*.json | head -1 | xargs basename | sed 's/\.json$//')
raw=$(field "$raw_call" "['DeliveryStreamName']")
processed=$(field "$processed_call" "['DeliveryStreamName']")

status_of() { # kind name -> status word, GONE when not found
  case $1 in
    stream) aws kinesis describe-stream-summary --stream-name "$2" --query StreamDescriptionSummary.StreamStatus --output text 2>/dev/null || echo GONE ;;
    delivery) aws firehose describe-delivery-stream --delivery-stream-name "$2" --query DeliveryStreamDescription.DeliveryStreamStatus --output text 2>/dev/null || echo GONE ;;
    app) aws kinesisanalyticsv2 describe-application --application-name "$2" --query ApplicationDetail.ApplicationStatus --output text 2>/dev/null || echo GONE ;;
  esac
}
until_status() { # kind name WANT: poll every $poll s; a failed state ends the script
  local s
  while s=$(status_of "$1" "$2"); [ "$s" != "$3" ]; do
    case $s in *FAILED*) echo "$1 $2 is $s" >&2; exit 1 ;; esac
    sleep "$poll"
  done
}
# A create refused while IAM propagates the role is retried; any other error fails.
propagation='Firehose is unable to assume role|is not authorized to perform|Access was denied|Verify that the IAM role has access|Kinesis Analytics service doesn.t have sufficient privileges|Kinesis Analytics doesn.t have sufficient privileges|Please check the role provided'
waitall() { local p; for p in "$@"; do wait "$p"; done; }  # each job's failure counts
retry_iam() {
  local d=$first_retry out
  until out=$("$@" 2>&1 >/dev/null); do
    if ! grep -q InvalidArgumentException <<<"$out" || ! grep -Eq "$propagation" <<<"$out"; then
      echo "$out" >&2; exit 1
    fi
    sleep "$d"
    d=$(python3 -c "print(min($d * 2, $max_retry))")
  done
}

up() {
  # Everything that needs nothing, at once.
  ( aws s3api create-bucket --bucket "$bucket" >/dev/null
    aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}' & p=($!)
    aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true & p+=($!)
    aws s3api put-bucket-tagging --bucket "$bucket" --tagging "$(field Bucket-0 "['Tagging']")" & p+=($!)
    policy=$(field Bucket-0 "['Policy']")
    if [ "$policy" != null ]; then aws s3api put-bucket-policy --bucket "$bucket" --policy "$policy" & p+=($!); fi
    for f in $(field Bucket-0 "['Folders']" | tr -d '[],"'); do aws s3api put-object --bucket "$bucket" --key "$f" >/dev/null & p+=($!); done
    waitall "${p[@]}" ) & bucket_job=$!
  ( aws kinesis create-stream --cli-input-json "$(j CreateStream-0)"
    aws kinesis add-tags-to-stream --cli-input-json "$(j AddTagsToStream-0)" ) & stream_job=$!
  role_jobs=()
  for f in "$in"/CreateRole-*.json; do
    n=$(basename "$f" .json); i=${n#CreateRole-}
    ( aws iam create-role --cli-input-json "$(j "$n")" >/dev/null
      aws iam put-role-policy --cli-input-json "$(j "PutRolePolicy-$i")" ) & role_jobs+=($!)
  done
  log_jobs=()
  for f in "$in"/CreateLogGroup-*.json; do
    i=$(basename "$f" .json); i=${i#CreateLogGroup-}
    ( aws logs create-log-group --cli-input-json "$(j "CreateLogGroup-$i")"
      aws logs put-retention-policy --cli-input-json "$(j "PutRetentionPolicy-$i")" & p=($!)
      aws logs create-log-stream --cli-input-json "$(j "CreateLogStream-$i")" & p+=($!)
      waitall "${p[@]}" ) & log_jobs+=($!)
  done
  ( aws sns create-topic --cli-input-json "$(j CreateTopic-0)" >/dev/null
    p=(); for f in "$in"/PutMetricAlarm-*.json; do aws cloudwatch put-metric-alarm --cli-input-json "file://$f" & p+=($!); done
    waitall "${p[@]}" ) & alarm_job=$!
  aws cloudwatch put-dashboard --cli-input-json "$(j PutDashboard-0)" >/dev/null & dash_job=$!
  # The delivery streams need the bucket, their role and log group (and the raw one its
  # stream ACTIVE); the application needs its code, role and log stream to be created,
  # and the stream and the processed delivery stream ACTIVE to start.
  waitall $bucket_job "${role_jobs[@]}" "${log_jobs[@]}"
  ( retry_iam aws firehose create-delivery-stream --cli-input-json "$(j "$processed_call")"
    until_status delivery "$processed" ACTIVE ) & processed_job=$!
  ( until_status stream "$stream" ACTIVE
    retry_iam aws firehose create-delivery-stream --cli-input-json "$(j "$raw_call")"
    until_status delivery "$raw" ACTIVE ) & raw_job=$!
  ( aws s3 cp --quiet "$INPUTS/artifact.zip" "s3://$bucket/$key"
    retry_iam aws kinesisanalyticsv2 create-application --cli-input-json "$(j CreateApplication-0)"
    until_status stream "$stream" ACTIVE
    until_status delivery "$processed" ACTIVE
    aws kinesisanalyticsv2 start-application --cli-input-json "$(j StartApplication-0)"
    until_status app "$app" RUNNING ) & app_job=$!
  waitall $stream_job $processed_job $raw_job $app_job $alarm_job $dash_job
}

down() {
  aws cloudwatch delete-dashboards --dashboard-names "$dashboard" & dash_job=$!
  ( aws cloudwatch delete-alarms --alarm-names $(for f in "$in"/PutMetricAlarm-*.json; do python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['AlarmName'])" "$f"; done)
    aws sns delete-topic --topic-arn "$(aws sns list-topics --query "Topics[?ends_with(TopicArn, ':$topic')].TopicArn | [0]" --output text)" ) & alarm_job=$!
  # DeleteApplication halts a running application and deletes it (Managed Flink API
  # reference, DeleteApplication); it needs the creation time from DescribeApplication.
  # AWS CLI v1 sends timestamps in whole seconds and the local emulator compares to the
  # millisecond, so this one call goes through botocore (the CLI's own library).
  ( python3 -c '
import boto3, os, sys
c = boto3.client("kinesisanalyticsv2", endpoint_url=os.environ["ENDPOINT"])
t = c.describe_application(ApplicationName=sys.argv[1])["ApplicationDetail"]["CreateTimestamp"]
c.delete_application(ApplicationName=sys.argv[1], CreateTimestamp=t)' "$app"
    until_status app "$app" GONE ) & app_job=$!
  ( aws firehose delete-delivery-stream --delivery-stream-name "$raw"; until_status delivery "$raw" GONE ) & raw_job=$!
  ( aws firehose delete-delivery-stream --delivery-stream-name "$processed"; until_status delivery "$processed" GONE ) & processed_job=$!
  ( aws kinesis delete-stream --stream-name "$stream"; until_status stream "$stream" GONE ) & stream_job=$!
  # The bucket, the log groups and the roles once their writers and users are gone.
  waitall $app_job $raw_job $processed_job
  aws s3 rb --force "s3://$bucket" >/dev/null & bucket_job=$!
  p=()
  for f in "$in"/CreateLogGroup-*.json; do
    aws logs delete-log-group --log-group-name "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['logGroupName'])" "$f")" & p+=($!)
  done
  for f in "$in"/PutRolePolicy-*.json; do
    r=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['RoleName'], d['PolicyName'])" "$f")
    ( aws iam delete-role-policy --role-name "${r% *}" --policy-name "${r#* }"
      aws iam delete-role --role-name "${r% *}" ) & p+=($!)
  done
  waitall $bucket_job $stream_job $dash_job $alarm_job "${p[@]}"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: bench/lab-cli.sh up|down" >&2; exit 2 ;;
esac
