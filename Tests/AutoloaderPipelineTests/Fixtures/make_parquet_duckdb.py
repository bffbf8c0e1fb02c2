#!/usr/bin/env python3
"""Writes parquet_duckdb.parquet with DuckDB's own writer (COPY … (FORMAT parquet)): 3,000 rows of the flat types DuckDB
writes (BIGINT, DOUBLE, DECIMAL(18,3) as INT64, VARCHAR with dictionary pages, nullable INTEGER, DATE, TIMESTAMP,
BOOLEAN, UUID). ContractTests.parquetWrittenByDuckDB compares the loaded rows with the sums pyarrow reads back here."""
import duckdb, pyarrow.parquet as pq
duckdb.connect().execute("""COPY (SELECT i AS id, i * 1.5 AS dbl, CAST(i * 1.125 AS DECIMAL(18,3)) AS dec, 'name_' || (i % 50) AS name,
  CASE WHEN i % 7 = 0 THEN NULL ELSE CAST(i % 113 AS INTEGER) END AS qty, DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day,
  TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i) AS ts, i % 2 = 0 AS flag,
  CAST('00000000-0000-0000-0000-' || lpad(CAST(i AS VARCHAR), 12, '0') AS UUID) AS u
  FROM range(1, 3001) t(i)) TO 'parquet_duckdb.parquet' (FORMAT parquet)""")
t = pq.read_table("parquet_duckdb.parquet")
print(pq.ParquetFile("parquet_duckdb.parquet").schema)
print(len(t), sum(t["id"].to_pylist()), sum(t["dbl"].to_pylist()), sum(t["dec"].to_pylist()),
      sum(q for q in t["qty"].to_pylist() if q is not None), t["qty"].null_count, sum(t["flag"].to_pylist()))
print(t.slice(2999, 1).to_pylist())
