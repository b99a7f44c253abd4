"""The lab's producer rewritten the best way a lab user would in Python: boto3
PutRecords in batches of 500 with IN_FLIGHT threads sending at once (one client, a
connection each), failed entries sent again. Each record carries a `record_id` unique
to it, `<run>-<n>` (the run's start in milliseconds since the epoch and the process id,
in hex; the record's number in the run), as labctl produce's records do, in the same
compact JSON, so both do the same work per record.
Usage: boto3_producer.py ENDPOINT STREAM COUNT SENSORS [IN_FLIGHT]. Prints JSON."""
import datetime
import os
import json
import random
import sys
import threading
import time

import boto3
from botocore.config import Config

endpoint, stream, count, sensors = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
in_flight = int(sys.argv[5]) if len(sys.argv) > 5 else 1
kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1",
                       config=Config(max_pool_connections=max(10, in_flight)))
ids = [f"sensor-{i:03d}" for i in range(1, sensors + 1)]
lock = threading.Lock()
run = f"{int(time.time() * 1000):x}{os.getpid():x}"
made = [0]
todo = [count]
sent = [0]
retried = [0]


def reading(n):
    sid = random.choice(ids)
    return sid, json.dumps({
        "sensor_id": sid,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "temperature": round(random.uniform(10, 40), 2),
        "humidity": round(random.uniform(30, 90), 2),
        "pressure": round(random.uniform(980, 1030), 2),
        "record_id": f"{run}-{n}",
    }, separators=(",", ":"))


def worker():
    while True:
        with lock:
            n = min(500, todo[0])
            todo[0] -= n
            first = made[0] + 1
            made[0] += n
        if n == 0:
            return
        batch = []
        for i in range(n):
            sid, data = reading(first + i)
            batch.append({"Data": data.encode(), "PartitionKey": sid})
        while batch:
            resp = kinesis.put_records(StreamName=stream, Records=batch)
            failed = [e for e, r in zip(batch, resp["Records"]) if "ErrorCode" in r]
            with lock:
                sent[0] += len(batch) - len(failed)
                retried[0] += len(failed)
            batch = failed


start = time.perf_counter()
threads = [threading.Thread(target=worker) for _ in range(in_flight)]
for t in threads:
    t.start()
for t in threads:
    t.join()
seconds = time.perf_counter() - start
print(json.dumps({"sent": sent[0], "retried": retried[0], "seconds": seconds, "in_flight": in_flight,
                  "records_per_second": sent[0] / seconds}))
