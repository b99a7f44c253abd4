"""Entry point of the labctl Flink application (Managed Service for Apache Flink, Python).

labctl packs this file at the root of the application's zip, next to the SQL file and
the connector jar under lib/. At start it reads the application's runtime properties,
fills every ${...} placeholder of the SQL file with the property of that name from the
PipelineProperties group (and fails, naming them, when one has no value), then runs
the statements: CREATE, SET and other statements one by one, every INSERT together in
one statement set, so that the whole file is one Flink job.

Outside Managed Flink (a local run: LABCTL_APPLICATION_PROPERTIES names the properties
file), two more things, both absent on AWS:
- the connector jar named by the run option `jarfile` (relative to this file) is put on
  `pipeline.jars`, as Managed Flink does with it; the parallelism is 1 (or
  LABCTL_FLINK_PARALLELISM), where Managed Flink sets its own; and main.py waits for the
  job (it runs in this process's mini cluster);
- PipelineProperties keys `connector.<id>.<option>` become the table option `<option>` of
  every CREATE TABLE whose 'connector' is `<id>` (e.g. `connector.kinesis.aws.endpoint`),
  so that a local endpoint and credentials reach the tables while the SQL file stays the
  one that runs on AWS. labctl sets no such key for AWS; main.py applies them wherever
  they are present, and refuses one the SQL already sets.
"""

import json
import os
import re
import sys

PROPERTIES_FILE = "/etc/flink/application_properties.json"
GROUP = "PipelineProperties"
RUN_OPTIONS = "kinesis.analytics.flink.run.options"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
CONNECTOR_OPTION = re.compile(r"^connector\.([A-Za-z0-9_\-]+)\.(.+)$")


def load_groups(path=None):
    """Every property group of the runtime properties: {group id: {key: value}}."""
    path = path or os.environ.get("LABCTL_APPLICATION_PROPERTIES", PROPERTIES_FILE)
    with open(path, encoding="utf-8") as f:
        groups = json.load(f)
    return {g.get("PropertyGroupId"): dict(g.get("PropertyMap", {})) for g in groups}


def load_properties(path=None):
    """The PipelineProperties group of the runtime properties, as a dict."""
    groups = load_groups(path)
    if GROUP not in groups:
        raise SystemExit(f"the property group {GROUP} is missing from the runtime properties")
    return groups[GROUP]


def substitute(sql, props):
    """The SQL with every placeholder replaced; an error naming any without a value."""
    missing = sorted({m for m in PLACEHOLDER.findall(sql) if m not in props})
    if missing:
        raise ValueError("no runtime property for placeholder(s): " + ", ".join(missing))
    return PLACEHOLDER.sub(lambda m: props[m.group(1)], sql)


def sql_string(value):
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def connector_options(props):
    """{connector id: [(option, value)]} from the `connector.<id>.<option>` properties."""
    out = {}
    for key in sorted(props):
        m = CONNECTOR_OPTION.match(key)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2), props[key]))
    return out


def with_options(statement, extra):
    """A CREATE TABLE statement with the options for its connector added to its WITH
    clause; other statements unchanged. An option the statement already sets is an error."""
    if not extra or not re.match(r"(?is)^\s*CREATE\s+(TEMPORARY\s+)?TABLE\b", statement):
        return statement
    connector = re.search(r"(?is)'connector'\s*=\s*'([^']*)'", statement)
    adds = extra.get(connector.group(1), []) if connector else []
    if not adds:
        return statement
    close = statement.rstrip().rstrip(";").rstrip()
    if not close.endswith(")"):
        raise ValueError("cannot add options to a CREATE TABLE without a final WITH (...)")
    for option, _ in adds:
        if re.search(r"(?s)'" + re.escape(option) + r"'\s*=", close):
            raise ValueError(
                f"the property connector.{connector.group(1)}.{option} sets an option "
                "the SQL file already sets"
            )
    added = "".join(f",\n    {sql_string(k)} = {sql_string(v)}" for k, v in adds)
    return close[:-1].rstrip() + added + "\n)"


def statements(sql):
    """Split on `;` outside quotes, identifiers and comments; drop comments and blanks."""
    out, cur, i, n = [], [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote: an escaped one
                        j += 2
                        continue
                    break
                j += 1
            cur.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch == ";":
            out.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(ch)
            i += 1
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def run(table_env, sql, props, wait=False):
    """Run the file's statements; the INSERTs as one job. Returns its TableResult."""
    inserts = table_env.create_statement_set()
    count = 0
    extra = connector_options(props)
    for st in statements(substitute(sql, props)):
        st = with_options(st, extra)
        if re.match(r"(?is)^\s*INSERT\b", st):
            inserts.add_insert_sql(st)
            count += 1
        else:
            table_env.execute_sql(st)
    if count == 0:
        raise ValueError("the SQL file has no INSERT statement: nothing to run")
    result = inserts.execute()
    if wait:
        result.wait()
    return result


def main():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    groups = load_groups()
    props = load_properties()
    here = os.path.dirname(os.path.realpath(__file__))
    sql_file = os.path.join(here, props.get("sql.file", "application.sql"))
    with open(sql_file, encoding="utf-8") as f:
        sql = f.read()
    table_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    local = bool(os.environ.get("LABCTL_APPLICATION_PROPERTIES"))
    if local:
        # A local run: Managed Flink adds the `jarfile` itself; here main.py does.
        jar = groups.get(RUN_OPTIONS, {}).get("jarfile")
        if jar:
            path = os.path.join(here, jar)
            if not os.path.isfile(path):
                raise SystemExit(f"the run option jarfile names {path}, which does not exist")
            table_env.get_config().set("pipeline.jars", "file://" + path)
        # Managed Flink sets the parallelism from the application's configuration; locally
        # it would be the number of cores, and subtasks without a shard hold no watermark.
        table_env.get_config().set(
            "parallelism.default", os.environ.get("LABCTL_FLINK_PARALLELISM", "1")
        )
    # Locally the job runs in this process's mini cluster: returning would end it.
    run(table_env, sql, props, wait=local)


if __name__ == "__main__":
    sys.exit(main())
