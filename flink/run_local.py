"""Run a labctl Flink SQL file on a local PyFlink, for tests: the same main.py code path
(placeholder substitution, statement splitting, one statement set), with the Kinesis
source and Firehose sink tables swapped for filesystem tables over JSON lines.

Usage: python run_local.py SQL_FILE INPUT_DIR OUTPUT_DIR
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import main  # noqa: E402  (the application's own entry module)

# Stand-in values for the placeholders: the swapped tables do not use them.
PROPS = {
    "input.stream.arn": "arn:aws:kinesis:us-east-1:123456789012:stream/local",
    "input.stream.name": "local",
    "input.starting.position": "TRIM_HORIZON",
    "aws.region": "us-east-1",
    "output.delivery.stream": "local",
}


def swap(statement, source_dir, sink_dir):
    """A CREATE TABLE with its WITH (...) options replaced by a local filesystem table."""
    m = re.match(r"(?is)^\s*CREATE\s+TABLE\s+(\w+)", statement)
    if not m:
        return statement
    head = statement[: statement.upper().rindex("WITH")]
    connector = re.search(r"'connector'\s*=\s*'([^']+)'", statement)
    kind = connector.group(1) if connector else ""
    path = source_dir if kind == "kinesis" else sink_dir
    return f"{head}WITH ('connector' = 'filesystem', 'path' = 'file://{path}', 'format' = 'json')"


def run(sql_file, source_dir, sink_dir):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    with open(sql_file, encoding="utf-8") as f:
        sql = main.substitute(f.read(), PROPS)
    swapped = ";\n".join(swap(s, source_dir, sink_dir) for s in main.statements(sql))
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("parallelism.default", "1")
    conf.set("execution.checkpointing.interval", "1 s")
    conf.set("table.local-time-zone", "UTC")
    main.run(env, swapped, PROPS, wait=True)


if __name__ == "__main__":
    run(*sys.argv[1:4])
