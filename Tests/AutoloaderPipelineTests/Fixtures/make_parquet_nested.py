#!/usr/bin/env python3
"""Writes nested Parquet files and what pyarrow reads back from them as one JSON object per line (`.jsonl`): ContractTests.parquetNestedColumns loads each file and compares every nested value with these.

- parquet_nested_v1.parquet: data page v1, dictionary on, snappy; parquet_nested_v2.parquet: data page v2,
  dictionary off, zstd. 1,500 rows in row groups of 600, pages of ~512 bytes (so lists straddle pages). Both read
  back the same (checked here), so one parquet_nested_pyarrow.jsonl serves both.
  Structs in structs, list<int> (null list, empty list, null elements), list<list<string>>, list<struct>,
  map<string,int64> (null map, empty map, null values), map<int32, list<string>>, a required list of required
  ints, and inside a struct: date, timestamp (UTC micros, naive nanos), decimal, uuid, bytes (base64), time, bool, float.
  Flat uint32 / uint64 above 2^31 / 2^63.
- parquet_nested_duckdb.parquet: the same kinds of columns written by DuckDB's own writer.
Dates and times are written as the loader writes them (ISO, `Z` for UTC, only significant fraction digits)."""
import datetime, decimal, json, uuid
import pyarrow as pa, pyarrow.parquet as pq
from loader_text import as_loaded

def jsonable(v, t):
    """A pyarrow value as the loader writes it: maps as objects, temporal values as ISO text."""
    if v is None: return None
    if pa.types.is_map(t): return {str(jsonable(k, t.key_type)): jsonable(x, t.item_type) for k, x in v}
    if pa.types.is_list(t) or pa.types.is_large_list(t): return [jsonable(x, t.value_type) for x in v]
    if pa.types.is_struct(t): return {f.name: jsonable(v[f.name], f.type) for f in t}
    if isinstance(t, pa.ExtensionType): return jsonable(v, t.storage_type)
    return as_loaded(v)

def expected(path):
    table = pq.read_table(path)
    return "".join(json.dumps({f.name: jsonable(row[f.name], f.type) for f in table.schema}) + "\n" for row in table.to_pylist())

n = 1500
def row(i):
    k = i % 7
    return {
        "id": i,
        "s": None if i % 10 == 3 else {"a": None if i % 4 == 0 else i, "b": f"b{i}",
                                       "c": None if i % 6 == 1 else {"d": i / 4, "e": None if i % 5 == 0 else list(range(i % 4))}},
        "li": None if k == 0 else [] if k == 1 else [i, None, -i] if k == 2 else list(range(i % 5)),
        "ll": None if i % 9 == 0 else [[f"x{i}", None], [], None, [f"y{j}" for j in range(i % 3)]] if i % 2 else [],
        "ls": [{"x": j, "y": None if j == 1 else f"{i}-{j}"} for j in range(i % 4)] if i % 8 else None,
        "m": None if i % 11 == 0 else [] if i % 11 == 1 else [("k", i), ("n", None), (f"key{i % 3}", -i)],
        "mi": [(i % 100, [f"v{i}"]), (-(i % 7) - 1, [])] if i % 3 else None,
        "rl": [i, i + 1] if i % 2 else [],
        "t": None if i % 13 == 0 else {
            "d": datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
            "ts": datetime.datetime(2024, 3, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=i * 3607, microseconds=i * 7),
            "naive": datetime.datetime(1999, 12, 31, 23, 59) + datetime.timedelta(milliseconds=i * 250),
            "dec": decimal.Decimal(i * 37) / 100 * (-1 if i % 2 else 1),
            "u": uuid.UUID(int=i * 2**64 + i).bytes, "raw": bytes([i % 256, 0, 255, 10]),
            "tm": datetime.time(i % 24, i % 60, i % 60, (i * 1000) % 1_000_000),
            "ok": i % 3 == 0, "f": i / 2},
        "u32": 2**31 + i, "u64": 2**63 + i * 1_000_003,
    }
schema = pa.schema([
    ("id", pa.int64()),
    ("s", pa.struct([("a", pa.int32()), ("b", pa.string()), ("c", pa.struct([("d", pa.float64()), ("e", pa.list_(pa.int64()))]))])),
    ("li", pa.list_(pa.int32())),
    ("ll", pa.list_(pa.list_(pa.string()))),
    ("ls", pa.list_(pa.struct([("x", pa.int32()), ("y", pa.string())]))),
    ("m", pa.map_(pa.string(), pa.int64())),
    ("mi", pa.map_(pa.int32(), pa.list_(pa.string()))),
    pa.field("rl", pa.list_(pa.field("element", pa.int32(), nullable=False)), nullable=False),
    ("t", pa.struct([("d", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")), ("naive", pa.timestamp("ns")), ("dec", pa.decimal128(10, 2)),
                     ("u", pa.binary(16)), ("raw", pa.binary()), ("tm", pa.time64("us")), ("ok", pa.bool_()), ("f", pa.float32())])),
    ("u32", pa.uint32()), ("u64", pa.uint64()),
])
# pyarrow builds no extension type from Python values: t.u is built as its 16-byte storage, then cast to uuid.
table = pa.Table.from_pylist([row(i) for i in range(1, n + 1)], schema=schema)
t_type = schema.field("t").type
with_uuid = pa.struct([pa.field(f.name, pa.uuid()) if f.name == "u" else f for f in t_type])
table = table.set_column(schema.get_field_index("t"), pa.field("t", with_uuid), table.column("t").cast(with_uuid))
lines = set()
for version, dictionary, codec in (("1.0", True, "snappy"), ("2.0", False, "zstd")):
    name = f"parquet_nested_v{version[0]}.parquet"
    pq.write_table(table, name, row_group_size=600, data_page_size=512, data_page_version=version, use_dictionary=dictionary,
                   compression=codec)
    lines.add(expected(name))
assert len(lines) == 1
open("parquet_nested_pyarrow.jsonl", "w").write(lines.pop())
print(pq.ParquetFile("parquet_nested_v1.parquet").schema)

import duckdb
duckdb.sql("""
COPY (SELECT i AS id,
             CASE WHEN i % 10 = 3 THEN NULL ELSE {'a': i, 'b': 'b' || i, 'inner': {'d': i / 4, 'e': range(i % 4)}} END AS s,
             CASE WHEN i % 7 = 0 THEN NULL WHEN i % 7 = 1 THEN [] ELSE [i, NULL, -i] END AS li,
             [[ 'x' || i, NULL ], [], NULL] AS ll,
             CASE WHEN i % 8 = 0 THEN NULL ELSE [{'x': 1, 'y': 'one'}, {'x': i, 'y': NULL}] END AS ls,
             CASE WHEN i % 11 = 0 THEN NULL ELSE MAP {'k': i, 'n': NULL} END AS m,
             {'d': DATE '2024-01-01' + i::INT, 'ts': TIMESTAMPTZ '2024-03-01 00:00:00+00' + to_seconds(i * 3607),
              'dec': (i * 37 / 100)::DECIMAL(10, 2)} AS t
      FROM range(1, 1001) r(i)) TO 'parquet_nested_duckdb.parquet' (FORMAT parquet, ROW_GROUP_SIZE 400)
""")
open("parquet_nested_duckdb.jsonl", "w").write(expected("parquet_nested_duckdb.parquet"))
print(pq.ParquetFile("parquet_nested_duckdb.parquet").schema)
