"""The lab's producer rewritten the best way a lab user would in Python: boto3
PutRecords in batches of 500, one request at a time, failed entries sent again.
Usage: boto3_producer.py ENDPOINT STREAM COUNT SENSORS. Prints records/s as JSON."""
import datetime
import json
import random
import sys
import time

import boto3

endpoint, stream, count, sensors = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
ids = [f"sensor-{i:03d}" for i in range(1, sensors + 1)]


def reading():
    sid = random.choice(ids)
    return sid, json.dumps({
        "sensor_id": sid,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "temperature": round(random.uniform(10, 40), 2),
        "humidity": round(random.uniform(30, 90), 2),
        "pressure": round(random.uniform(980, 1030), 2),
    })


start = time.perf_counter()
sent = retried = 0
while sent < count:
    batch = []
    for _ in range(min(500, count - sent)):
        sid, data = reading()
        batch.append({"Data": data.encode(), "PartitionKey": sid})
    while batch:
        resp = kinesis.put_records(StreamName=stream, Records=batch)
        failed = [e for e, r in zip(batch, resp["Records"]) if "ErrorCode" in r]
        sent += len(batch) - len(failed)
        retried += len(failed)
        batch = failed
seconds = time.perf_counter() - start
print(json.dumps({"sent": sent, "retried": retried, "seconds": seconds, "records_per_second": sent / seconds}))
