#!/usr/bin/env python3
"""Detection benchmark: `autoloader detect --json` vs DuckDB's sniff_csv on the same corpus, one run.

For every CSV file of the corpus (format csv in expected.jsonl), both tools' answers are scored against the
truth: dialect + header right (delimiter, quote when observable, escape, header, skipped lines, column
count), and column types right, exactly (smallint/integer/bigint and decimal/double told apart) and by
family (all integers one family, decimal and double one family). Prints a table and total times.
Usage: benchmarks/detection [CORPUS_DIR] [AUTOLOADER_BINARY]
"""
import json, os, subprocess, sys, time

corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "AutoloaderDetectionTests", "Fixtures", "corpus")
binary = sys.argv[2] if len(sys.argv) > 2 else None
entries = [json.loads(l) for l in open(os.path.join(corpus, "expected.jsonl")) if l.strip()]
csvs = [e for e in entries if e["format"] == "csv"]

DUCK = {"TINYINT": "smallint", "SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint", "HUGEINT": "decimal",
        "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "decimal",
        "FLOAT": "double", "DOUBLE": "double", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp",
        "TIMESTAMP WITH TIME ZONE": "timestamptz", "BOOLEAN": "boolean", "VARCHAR": "varchar"}
FAMILY = {"smallint": "int", "integer": "int", "bigint": "int", "decimal": "number", "double": "number"}

def family(t):
    return FAMILY.get(t, t)

def score(entry, dialect, columns):
    """dialect: dict(delimiter, quote, escape, header, skip, ncols) or None; columns: list of type names."""
    want = entry["columns"]
    ok_dialect = dialect is not None and dialect["delimiter"] == entry["delimiter"] \
        and (not entry["quote_observed"] or dialect["quote"] == entry["quote"]) \
        and (dialect["escape"] or None) == entry["escape"] and dialect["header"] == entry["header"] \
        and dialect["skip"] == entry["skip_lines"] and dialect["ncols"] == len(want)
    exact = fam = 0
    if columns is not None and len(columns) == len(want):
        for got, w in zip(columns, want):
            exact += got == w["type"]
            fam += family(got) == family(w["type"])
    return ok_dialect, exact, fam, len(want)

def ours():
    if binary is None:
        root = os.path.join(os.path.dirname(__file__), "..")
        subprocess.run(["swift", "build", "-c", "release", "--product", "autoloader"], cwd=root, check=True, capture_output=True)
        path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
        exe = os.path.join(path, "autoloader")
    else:
        exe = binary
    files = [os.path.join(corpus, e["file"]) for e in csvs]
    t0 = time.perf_counter()
    out = subprocess.run([exe, "detect", "--json", *files], capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - t0
    results = json.loads(out)
    scored = []
    for e, d in zip(csvs, results):
        cols = d.get("columns")
        dialect = None if d.get("error") else {"delimiter": d.get("delimiter"), "quote": d.get("quote"), "escape": d.get("escape"),
                                              "header": d.get("header"), "skip": d.get("skipLines"), "ncols": len(cols or [])}
        scored.append(score(e, dialect, [c["type"] for c in cols] if cols else None))
    return scored, elapsed

def duck():
    import duckdb
    con = duckdb.connect()
    scored = []
    t0 = time.perf_counter()
    for e in csvs:
        path = os.path.join(corpus, e["file"])
        try:
            rel = con.sql(f"SELECT Delimiter, Quote, Escape, SkipRows, HasHeader, Columns FROM sniff_csv('{path}')")
            delim, quote, escape, skip, header, columns = rel.fetchall()[0]
            types = [DUCK.get(c["type"], c["type"].lower()) for c in columns]
            dialect = {"delimiter": delim, "quote": None if quote == "(empty)" else quote,
                       "escape": None if escape in ("(empty)", '"') else escape, "header": header, "skip": skip, "ncols": len(columns)}
            scored.append(score(e, dialect, types))
        except Exception as error:  # a file DuckDB cannot sniff counts as wrong
            scored.append(score(e, None, None))
    return scored, time.perf_counter() - t0

def summary(name, scored, elapsed):
    files = len(scored)
    dialect = sum(1 for s in scored if s[0])
    columns = sum(s[3] for s in scored)
    exact = sum(s[1] for s in scored)
    fam = sum(s[2] for s in scored)
    print(f"{name:<12} {dialect:>3}/{files} = {dialect / files:6.1%}   {exact:>3}/{columns} = {exact / columns:6.1%}   "
          f"{fam:>3}/{columns} = {fam / columns:6.1%}   {elapsed:7.3f}s")
    return dialect / files, exact / columns, fam / columns

if __name__ == "__main__":
    a = ours()
    try:
        import duckdb  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "duckdb"], check=True)
    b = duck()
    print(f"{len(csvs)} CSV files of {corpus}")
    print(f"{'tool':<12} {'dialect+header right':<20} {'types exact':<18} {'types by family':<18} total time")
    ra = summary("autoloader", *a)
    rb = summary(f"duckdb", *b)
    print("goal met (ours >= DuckDB on every share):", all(x >= y for x, y in zip(ra, rb)))
