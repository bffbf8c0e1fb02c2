#!/usr/bin/env python3
"""Writes parquet_pages_v1.parquet and parquet_pages_v2.parquet: 5,000 rows in 3 row groups of many small
pages (data page v1 and v2), nullable columns with nulls, dictionary encoding on for some columns and off
for others, snappy. ParquetPagesTests checks the loaded rows against the sums printed here."""
import pyarrow as pa, pyarrow.parquet as pq

n = 5000
ids = list(range(1, n + 1))
qty = [None if i % 7 == 0 else i % 113 for i in ids]
price = [None if i % 11 == 0 else i * 0.25 for i in ids]
name = [None if i % 13 == 0 else f"name_{i % 50}" for i in ids]      # repeats: dictionary
note = [None if i % 17 == 0 else f"note {i} " + "x" * (i % 40) for i in ids]  # unique: plain
table = pa.table({"id": pa.array(ids, pa.int64()), "qty": pa.array(qty, pa.int32()), "price": pa.array(price, pa.float64()),
                  "name": pa.array(name, pa.string()), "note": pa.array(note, pa.string())})
for version in ("1.0", "2.0"):
    pq.write_table(table, f"parquet_pages_v{version[0]}.parquet", row_group_size=2000, data_page_size=512,
                   data_page_version=version, use_dictionary=["name"], compression="snappy")
print("sum qty", sum(q for q in qty if q is not None), "null qty", qty.count(None))
print("sum price", sum(p for p in price if p is not None), "null name", name.count(None), "null note", note.count(None))
print("note bytes", sum(len(x) for x in note if x is not None))
