"""Write one PutRecords request body (500 sensor records, JSON protocol) for the
load tool to replay. Usage: make_request.py STREAM SENSORS OUT."""
import base64
import json
import random
import sys

stream, sensors, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
random.seed(1)
records = []
for i in range(500):
    sid = f"sensor-{random.randint(1, sensors):03d}"
    data = json.dumps({"sensor_id": sid, "timestamp": "2026-01-01T00:00:00.000Z",
                       "temperature": 23.45, "humidity": 55.5, "pressure": 1003.25},
                      separators=(",", ":"))
    records.append({"Data": base64.b64encode(data.encode()).decode(), "PartitionKey": sid})
with open(out, "w") as f:
    json.dump({"StreamName": stream, "Records": records}, f)
