#!/usr/bin/env bash
# Producer benchmarks on this machine, in one run against one fresh local stack:
#   1. the stack's ceiling: ab (ApacheBench) replaying one pre-built PutRecords request (500 records)
#   2. labctl produce --max --count N
#   3. the lab's producer rewritten with boto3 PutRecords batches of 500
#   4. labctl produce --dry-run on one core (no network)
#   5. peak memory (max RSS) of labctl produce --max for 1,000,000 records
# Each producer writes to its own fresh stream of $SHARDS shards. Needs ab (apt-get
# install apache2-utils) and scripts/local-stack install; boto3 goes into .labctl/bench-venv.
# Stored-record counts per producer are checked afterwards: the emulator can lose
# records to concurrent PutRecords calls (see src/faults.rs).
# Usage: bench/produce.sh   (N, SHARDS, SENSORS, MEMORY_COUNT override)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
N="${N:-200000}"
SHARDS="${SHARDS:-64}"
SENSORS="${SENSORS:-1000}"
MEMORY_COUNT="${MEMORY_COUNT:-1000000}"
venv="$here/.labctl/bench-venv"
out="$here/.labctl/bench"
mkdir -p "$out"

command -v ab >/dev/null || { echo "ab is missing: apt-get install apache2-utils" >&2; exit 1; }
scripts/local-stack install
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import boto3" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check boto3
fi
cargo build --release --quiet
labctl="$here/target/release/labctl"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
"$here/.labctl/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$out/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
mkstream() {
  "$venv/bin/python" -c "
import boto3,sys
k=boto3.client('kinesis',endpoint_url='$endpoint',region_name='us-east-1')
k.create_stream(StreamName='$1',ShardCount=$SHARDS)
k.get_waiter('stream_exists').wait(StreamName='$1',WaiterConfig={'Delay':1})"
}
count_records() {
  "$venv/bin/python" -c "
import boto3
k=boto3.client('kinesis',endpoint_url='$endpoint',region_name='us-east-1')
n=0
for s in k.list_shards(StreamName='$1')['Shards']:
    it=k.get_shard_iterator(StreamName='$1',ShardId=s['ShardId'],ShardIteratorType='TRIM_HORIZON')['ShardIterator']
    while True:
        r=k.get_records(ShardIterator=it,Limit=10000); n+=len(r['Records']); it=r['NextShardIterator']
        if not r['Records']: break
print(n)"
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# As many records as each producer sends (N/500 requests): the emulator slows down
# as a shard fills, so equal record counts keep the comparison fair.
echo "== ceiling: ab replaying one PutRecords of 500 records, $N records, 4 connections" >&2
mkstream bench-ceiling
"$venv/bin/python" bench/make_request.py bench-ceiling "$SENSORS" "$out/request.json"
ab -q -k -c 4 -n $(( N / 500 )) -p "$out/request.json" -T application/x-amz-json-1.1 \
  -H "X-Amz-Target: Kinesis_20131202.PutRecords" \
  -H "Authorization: AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0" \
  "$endpoint/" >"$out/ab.txt"
cat "$out/ab.txt" >&2
grep -q "^Non-2xx responses" "$out/ab.txt" && { echo "the replayed request was refused; see $out/ab.txt" >&2; exit 1; }
ceiling_rps=$(awk '/^Requests per second/ {print $4}' "$out/ab.txt")
ceiling=$(python3 -c "print(round($ceiling_rps * 500))")

echo "== labctl produce --max --count $N" >&2
mkstream bench-labctl
"$labctl" produce --stream-name bench-labctl --max --count "$N" --sensors "$SENSORS" --seed 1 \
  --endpoint-url "$endpoint" --region us-east-1 --output json -q >"$out/labctl.json"
labctl_rate=$(field "$out/labctl.json" records_per_second)
labctl_stored=$(count_records bench-labctl)

echo "== labctl produce --max --in-flight 1 --count $N" >&2
mkstream bench-labctl1
"$labctl" produce --stream-name bench-labctl1 --max --in-flight 1 --count "$N" --sensors "$SENSORS" --seed 1 \
  --endpoint-url "$endpoint" --region us-east-1 --output json -q >"$out/labctl1.json"
labctl1_rate=$(field "$out/labctl1.json" records_per_second)

echo "== boto3 PutRecords-500 producer, $N records" >&2
mkstream bench-boto3
"$venv/bin/python" bench/boto3_producer.py "$endpoint" bench-boto3 "$N" "$SENSORS" >"$out/boto3.json"
boto3_rate=$(field "$out/boto3.json" records_per_second)

echo "== labctl produce --dry-run on one core, 5,000,000 records" >&2
taskset -c 0 "$labctl" produce --stream-name none --dry-run --max --count 5000000 --sensors "$SENSORS" \
  --output json -q >"$out/dry.json"
dry_rate=$(field "$out/dry.json" records_per_second)

echo "== peak memory: labctl produce --max --count $MEMORY_COUNT, against bench/sink.py" >&2
# The emulator slows to a crawl past a few hundred thousand stored records, so this
# run sends to a stand-in that accepts every PutRecords and stores nothing: the
# producer does all its usual work, only the far end is cheaper.
sink_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 bench/sink.py "$sink_port" &
sink=$!
trap 'kill $moto $sink 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $sink_port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
/usr/bin/time -v "$labctl" produce --stream-name sink --max --count "$MEMORY_COUNT" --sensors "$SENSORS" \
  --endpoint-url "http://127.0.0.1:$sink_port" --region us-east-1 --output json -q >"$out/memory.json" 2>"$out/time.txt"
rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$out/time.txt")
memory_rate=$(field "$out/memory.json" records_per_second)

python3 - "$ceiling" "$labctl_rate" "$labctl1_rate" "$boto3_rate" "$dry_rate" "$rss_kib" "$memory_rate" "$N" "$labctl_stored" <<'PY'
import json, sys
c, l, l1, b, d, rss, mr, n, stored = (float(x) for x in sys.argv[1:])
print(json.dumps({
    "records": int(n),
    "ceiling_records_per_second": round(c),
    "labctl_records_per_second": round(l),
    "labctl_in_flight_1_records_per_second": round(l1),
    "labctl_share_of_ceiling": round(l / c, 3),
    "boto3_records_per_second": round(b),
    "labctl_over_boto3": round(l / b, 2),
    "labctl_records_stored_of_sent": int(stored),
    "dry_run_records_per_second_one_core": round(d),
    "peak_rss_mib_1m_records": round(rss / 1024, 1),
    "rate_during_memory_run": round(mr),
}, indent=2))
PY
