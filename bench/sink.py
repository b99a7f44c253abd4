"""A Kinesis stand-in that accepts every PutRecords and stores nothing, for
measuring the producer's own memory over a long run (the emulator slows down as
its shards fill). Answers DescribeStreamSummary and PutRecords only.
Usage: sink.py PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


ANSWERS = {}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".PutRecords"):
            # Counted without parsing and answered from a cache, so the sink stays cheap
            # next to the producer it measures.
            n = body.count(b'"PartitionKey"')
            data = ANSWERS.get(n)
            if data is None:
                data = ANSWERS[n] = json.dumps({"FailedRecordCount": 0, "Records": [
                    {"SequenceNumber": str(i), "ShardId": "shardId-000000000000"} for i in range(n)]}).encode()
            self.reply(data)
            return
        elif target.endswith(".DescribeStreamSummary"):
            out = {"StreamDescriptionSummary": {
                "StreamName": "sink", "StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/sink",
                "StreamStatus": "ACTIVE", "RetentionPeriodHours": 24, "StreamCreationTimestamp": 0,
                "EnhancedMonitoring": [], "OpenShardCount": 1}}
        else:
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.reply(json.dumps(out).encode())

    def reply(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
