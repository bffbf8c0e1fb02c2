#!/usr/bin/env python3
"""Writes parquet_types_<codec>.parquet: every flat type pyarrow writes, one file per codec pyarrow offers
(uncompressed, snappy, gzip, brotli, lz4 (LZ4_RAW), zstd), 600 rows in row groups of 250 with nulls; and
parquet_types_int96.parquet, the same timestamps as INT96 (use_deprecated_int96_timestamps). parquet_types.jsonl
is what pyarrow reads back (the same for every file: checked here), with temporal values as the loader writes them.
ContractTests.parquetEveryTypeAndCodec compares every value."""
import datetime, decimal, json, uuid
import pyarrow as pa, pyarrow.parquet as pq
from loader_text import as_loaded

n = 600
def v(i, value, every=7):
    return None if i % every == 0 else value
utc = datetime.timezone.utc
base = datetime.datetime(2024, 2, 29, 23, 59, 58)
cols = {
    "id": pa.array(range(1, n + 1), pa.int64()),
    "i8": pa.array([v(i, (i % 256) - 128) for i in range(n)], pa.int8()),
    "u8": pa.array([v(i, i % 256) for i in range(n)], pa.uint8()),
    "i16": pa.array([v(i, i * 50 - 15000) for i in range(n)], pa.int16()),
    "u16": pa.array([v(i, 65535 - i) for i in range(n)], pa.uint16()),
    "i32": pa.array([v(i, i * 3_000_000 - 900_000_000) for i in range(n)], pa.int32()),
    "u32": pa.array([v(i, 4_294_967_295 - i) for i in range(n)], pa.uint32()),
    "i64": pa.array([v(i, i * 10**15 - 3 * 10**17) for i in range(n)], pa.int64()),
    "u64": pa.array([v(i, 18_446_744_073_709_551_615 - i) for i in range(n)], pa.uint64()),
    "f16": pa.array([v(i, (i - 300) / 8) for i in range(n)], pa.float16()),
    "f32": pa.array([v(i, i / 16) for i in range(n)], pa.float32()),
    "f64": pa.array([v(i, i * 1.1) for i in range(n)], pa.float64()),
    "b": pa.array([v(i, i % 2 == 0) for i in range(n)], pa.bool_()),
    "s": pa.array([v(i, f"text {i} é ✓") for i in range(n)], pa.string()),
    "ls": pa.array([v(i, "x" * (i % 50)) for i in range(n)], pa.large_string()),
    "bin": pa.array([v(i, bytes([i % 256, 0, 10])) for i in range(n)], pa.binary()),
    "fixed": pa.array([v(i, bytes([i % 256] * 3)) for i in range(n)], pa.binary(3)),
    "d32": pa.array([v(i, datetime.date(1970, 1, 1) + datetime.timedelta(days=i * 50 - 10000)) for i in range(n)], pa.date32()),
    "t_ms": pa.array([v(i, datetime.time(i % 24, i % 60, (i * 7) % 60, (i % 1000) * 1000)) for i in range(n)], pa.time32("ms")),
    "t_us": pa.array([v(i, datetime.time(i % 24, 30, 0, i)) for i in range(n)], pa.time64("us")),
    "ts_s": pa.array([v(i, base + datetime.timedelta(seconds=i * 3601)) for i in range(n)], pa.timestamp("s")),
    "ts_ms": pa.array([v(i, base + datetime.timedelta(milliseconds=i * 1001)) for i in range(n)], pa.timestamp("ms")),
    "ts_us_utc": pa.array([v(i, (base + datetime.timedelta(microseconds=i * 1_000_001)).replace(tzinfo=utc)) for i in range(n)], pa.timestamp("us", tz="UTC")),
    "ts_ns": pa.array([v(i, base + datetime.timedelta(microseconds=i * 3)) for i in range(n)], pa.timestamp("ns")),
    "ts_ns_utc": pa.array([v(i, (base - datetime.timedelta(days=i * 40)).replace(tzinfo=utc)) for i in range(n)], pa.timestamp("ns", tz="UTC")),
    "dec": pa.array([v(i, decimal.Decimal(i * 1234567 - 370370100) / 1000) for i in range(n)], pa.decimal128(12, 3)),
    "uid": pa.ExtensionArray.from_storage(pa.uuid(), pa.array([v(i, uuid.UUID(int=i * 2**100 + i).bytes) for i in range(n)], pa.binary(16))),
    "js": pa.ExtensionArray.from_storage(pa.json_(), pa.array([v(i, json.dumps({"k": i, "v": [i, None]})) for i in range(n)], pa.string())),
}
table = pa.table(cols)

readings = set()
for codec in ("none", "snappy", "gzip", "brotli", "lz4", "zstd"):
    name = f"parquet_types_{codec}.parquet"
    pq.write_table(table, name, row_group_size=250, compression=codec)
    back = pq.read_table(name)
    readings.add("".join(json.dumps({c: as_loaded(x, decimal_text=True) for c, x in row.items()}, ensure_ascii=False) + "\n" for row in back.to_pylist()))
assert len(readings) == 1
open("parquet_types.jsonl", "w").write(readings.pop())
pq.write_table(table.select(["id", "ts_s", "ts_ms", "ts_us_utc", "ts_ns"]), "parquet_types_int96.parquet", use_deprecated_int96_timestamps=True)
print(pq.ParquetFile("parquet_types_zstd.parquet").schema)
print(pq.ParquetFile("parquet_types_int96.parquet").schema)

# A file whose column chunk says LZO (which neither pyarrow nor we read): a snappy INT64 file with the codec in its
# footer's ColumnMetaData rewritten (compact protocol: right after path_in_schema ["id"], field 4's header 0x15 and
# zigzag(1 snappy) = 0x02 → zigzag(3 LZO) = 0x06).
import io
buf = io.BytesIO()
pq.write_table(pa.table({"id": pa.array(range(100), pa.int64())}), buf, compression="snappy", write_statistics=False)
data = bytearray(buf.getvalue())
footer_length = int.from_bytes(data[-8:-4], "little")
start = len(data) - 8 - footer_length
at = data.index(b"\x02id\x15\x02", start)
data[at + 4] = 0x06
open("parquet_codec_lzo.parquet", "wb").write(bytes(data))
try:
    pq.read_table("parquet_codec_lzo.parquet")
    raise SystemExit("the LZO file should not read")
except OSError as e:
    print("LZO:", e)
