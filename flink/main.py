"""Entry point of the labctl Flink application (Managed Service for Apache Flink, Python).

labctl packs this file at the root of the application's zip, next to the SQL file and
the connector jar under lib/. At start it reads the application's runtime properties,
fills every ${...} placeholder of the SQL file with the property of that name from the
PipelineProperties group (and fails, naming them, when one has no value), then runs
the statements: CREATE, SET and other statements one by one, every INSERT together in
one statement set, so that the whole file is one Flink job.
"""

import json
import os
import re
import sys

PROPERTIES_FILE = "/etc/flink/application_properties.json"
GROUP = "PipelineProperties"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


def load_properties(path=None):
    """The PipelineProperties group of the runtime properties, as a dict."""
    path = path or os.environ.get("LABCTL_APPLICATION_PROPERTIES", PROPERTIES_FILE)
    with open(path, encoding="utf-8") as f:
        groups = json.load(f)
    for g in groups:
        if g.get("PropertyGroupId") == GROUP:
            return dict(g.get("PropertyMap", {}))
    raise SystemExit(f"the property group {GROUP} is missing from {path}")


def substitute(sql, props):
    """The SQL with every placeholder replaced; an error naming any without a value."""
    missing = sorted({m for m in PLACEHOLDER.findall(sql) if m not in props})
    if missing:
        raise ValueError("no runtime property for placeholder(s): " + ", ".join(missing))
    return PLACEHOLDER.sub(lambda m: props[m.group(1)], sql)


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
    for st in statements(substitute(sql, props)):
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

    props = load_properties()
    here = os.path.dirname(os.path.realpath(__file__))
    sql_file = os.path.join(here, props.get("sql.file", "application.sql"))
    with open(sql_file, encoding="utf-8") as f:
        sql = f.read()
    table_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    run(table_env, sql, props)


if __name__ == "__main__":
    sys.exit(main())
