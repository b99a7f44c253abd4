"""A Kinesis stand-in that accepts every PutRecords and stores nothing, for
measuring the producer's own memory over a long run (the emulator slows down as
its shards fill). Answers DescribeStreamSummary and PutRecords only.
Usage: sink.py PORT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seq = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".PutRecords"):
            n = len(json.loads(body)["Records"])
            Sink.seq += n
            out = {"FailedRecordCount": 0, "Records": [
                {"SequenceNumber": str(Sink.seq + i), "ShardId": "shardId-000000000000"} for i in range(n)]}
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
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
