"""Times SQL in DuckDB over the Parquet files of revstream's Delta tables.

Called by benches/system_load (scenario 4) with a JSON request on stdin:
  {"tenant": "busy", "threads": 2, "runs": 200, "warmup": 3,
   "tables": {"payments": ["/abs/path/part-0.parquet", ...], ...},
   "queries": [{"name": "...", "sql": "..."}]}
Each table becomes a view over read_parquet([...]) of the live files of the
current Delta snapshot (the harness lists them; delta_scan would need an
extension download), filtered to the tenant like revstream's catalog does.
Prints {"duckdb": version, "queries": [{"name", "rows", "times_ms": [...]}]}.
Exit status 3: the duckdb package is not installed.
"""

import json
import sys
import time


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def main():
    request = json.load(sys.stdin)
    try:
        import duckdb
    except ImportError as e:
        print(f"duckdb is not installed ({e}); pip install duckdb", file=sys.stderr)
        return 3
    con = duckdb.connect()
    con.execute(f"SET threads TO {int(request['threads'])}")
    tenant = quote(request["tenant"])
    for table, files in request["tables"].items():
        if not files:
            continue
        listed = ", ".join(quote(f) for f in files)
        # The tenant column is the Delta partition column: it lives in the
        # directory names (tenant_id=…), not in the files.
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true) "
            f"WHERE tenant_id = {tenant}"
        )
    results = []
    for query in request["queries"]:
        for _ in range(int(request["warmup"])):
            con.execute(query["sql"]).fetchall()
        times = []
        rows = 0
        for _ in range(int(request["runs"])):
            started = time.perf_counter()
            rows = len(con.execute(query["sql"]).fetchall())
            times.append((time.perf_counter() - started) * 1000.0)
        results.append({"name": query["name"], "rows": rows, "times_ms": times})
    json.dump({"duckdb": duckdb.__version__, "queries": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
