#!/usr/bin/env python3
"""Detection benchmark: `autoloader detect --json` vs DuckDB's sniff_csv and CleverCSV on the same corpus, one run.

For every CSV file of the corpus (format csv in expected.jsonl), both tools' answers are scored against the
truth: dialect + header right (delimiter, quote when observable, escape, header, skipped lines, column
count), and column types right, exactly (smallint/integer/bigint and decimal/double told apart) and by
family (all integers one family, decimal and double one family). Prints a table and total times, and per
category where the corpus names them (benchmarks/detection-messy).
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
    # A one-column file has no delimiter to get right: its column count says it all.
    ok_dialect = dialect is not None and (len(want) == 1 or dialect["delimiter"] == entry["delimiter"]) \
        and (not entry["quote_observed"] or dialect["quote"] == entry["quote"]) \
        and (dialect["escape"] or None) == entry["escape"] and dialect["header"] == entry["header"] \
        and dialect["skip"] == entry["skip_lines"] and dialect["ncols"] == len(want)
    exact = fam = 0
    if columns is not None and len(columns) == len(want):
        for got, w in zip(columns, want):
            if w["type"] is None:
                continue
            exact += got == w["type"]
            fam += family(got) == family(w["type"])
    return ok_dialect, exact, fam, sum(1 for w in want if w["type"] is not None)

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

def clever():
    """CleverCSV (pip): its dialect (delimiter, quote, escape) and header; it does not skip lines or type columns,
    so the skip is the first row of the modal length and types are not scored."""
    import clevercsv
    from collections import Counter
    scored = []
    t0 = time.perf_counter()
    for e in csvs:
        path = os.path.join(corpus, e["file"])
        try:
            from clevercsv.encoding import get_encoding
            encoding = get_encoding(path)
            text = open(path, encoding=encoding, newline="").read()
            d = clevercsv.Sniffer().sniff(text[:100_000])
            header = clevercsv.Sniffer().has_header(text[:100_000])
            records = [r for r in clevercsv.reader(text.splitlines(), dialect=d) if r]
            mode = Counter(len(r) for r in records).most_common(1)[0][0]
            skip = next(i for i, r in enumerate(records) if len(r) == mode)
            dialect = {"delimiter": d.delimiter, "quote": d.quotechar or None,
                       "escape": d.escapechar or None, "header": header, "skip": skip, "ncols": mode}
            scored.append(score(e, dialect, None))
        except Exception:
            scored.append(score(e, None, None))
    return scored, time.perf_counter() - t0

def by_category(results):
    """Dialect+header share per category, per tool (entries with a "category" only)."""
    categories = sorted({e.get("category") for e in csvs if e.get("category")})
    if not categories:
        return
    print(f"{'category':<16}" + "".join(f"{name:>14}" for name, _ in results) + "   files")
    worst = True
    for c in categories:
        idx = [i for i, e in enumerate(csvs) if e.get("category") == c]
        shares = [sum(1 for i in idx if scored[i][0]) / len(idx) for _, scored in results]
        worst &= shares[0] >= max(shares[1:])
        print(f"{c:<16}" + "".join(f"{x:>14.0%}" for x in shares) + f"   {len(idx)}")
    print("ours >= the better of the others on every category:", worst)

def summary(name, scored, elapsed):
    files = len(scored)
    dialect = sum(1 for s in scored if s[0])
    columns = max(1, sum(s[3] for s in scored))
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
    try:
        import clevercsv  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "clevercsv"], check=True)
    c = clever()
    print(f"{len(csvs)} CSV files of {corpus}")
    print(f"{'tool':<12} {'dialect+header right':<20} {'types exact':<18} {'types by family':<18} total time")
    ra = summary("autoloader", *a)
    rb = summary(f"duckdb", *b)
    rc = summary("clevercsv", *c)
    print("goal met (ours >= DuckDB on every share, >= CleverCSV on dialect):", all(x >= y for x, y in zip(ra, rb)) and ra[0] >= rc[0])
    by_category([("autoloader", a[0]), ("duckdb", b[0]), ("clevercsv", c[0])])
