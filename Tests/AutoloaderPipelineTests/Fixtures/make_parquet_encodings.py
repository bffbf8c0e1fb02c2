#!/usr/bin/env python3
"""Writes parquet_encodings_v1.parquet and parquet_encodings_v2.parquet: 3,000 rows in 2 row groups of small pages,
every column in an encoding other than PLAIN and dictionary: DELTA_BINARY_PACKED (int32, int64 with nulls and
negative deltas), DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY (shared prefixes), BYTE_STREAM_SPLIT (float, double).
ContractTests.parquetEncodings checks the loaded rows against the sums printed here."""
import pyarrow as pa, pyarrow.parquet as pq

n = 3000
ids = list(range(1, n + 1))
small = [(-1) ** i * (i * 37 % 1000) for i in ids]                          # int32, deltas both ways
big = [None if i % 9 == 0 else i * 10_000_000_000 - (i % 7) * 3 for i in ids]  # int64 with nulls
word = [None if i % 11 == 0 else "w" * (i % 13) + str(i) for i in ids]         # DELTA_LENGTH_BYTE_ARRAY
path = [f"s3://bucket/year=2024/month={i % 12:02d}/part-{i:05d}.csv" for i in ids]  # DELTA_BYTE_ARRAY
ratio = [i / 8 for i in ids]                                                   # float, BYTE_STREAM_SPLIT
score = [None if i % 5 == 0 else i * 1.5 for i in ids]                         # double, BYTE_STREAM_SPLIT
table = pa.table({"id": pa.array(ids, pa.int64()), "small": pa.array(small, pa.int32()), "big": pa.array(big, pa.int64()),
                  "word": pa.array(word, pa.string()), "path": pa.array(path, pa.string()),
                  "ratio": pa.array(ratio, pa.float32()), "score": pa.array(score, pa.float64())})
encodings = {"id": "DELTA_BINARY_PACKED", "small": "DELTA_BINARY_PACKED", "big": "DELTA_BINARY_PACKED",
             "word": "DELTA_LENGTH_BYTE_ARRAY", "path": "DELTA_BYTE_ARRAY", "ratio": "BYTE_STREAM_SPLIT", "score": "BYTE_STREAM_SPLIT"}
for version in ("1.0", "2.0"):
    name = f"parquet_encodings_v{version[0]}.parquet"
    pq.write_table(table, name, row_group_size=1500, data_page_size=1024, data_page_version=version,
                   use_dictionary=False, column_encoding=encodings, compression="zstd")
    meta = pq.ParquetFile(name).metadata
    used = {meta.schema.column(c).name: meta.row_group(0).column(c).encodings for c in range(meta.num_columns)}
    print(name, used)
print("sum small", sum(small), "sum big", sum(b for b in big if b is not None), "null big", big.count(None))
print("word bytes", sum(len(w) for w in word if w is not None), "null word", word.count(None), "path bytes", sum(len(p) for p in path))
print("sum ratio", sum(ratio), "sum score", sum(s for s in score if s is not None))
# The codecs pyarrow writes besides snappy, gzip and zstd: LZ4_RAW ("lz4") and Brotli, data page v2, nulls.
for codec in ("lz4", "brotli"):
    pq.write_table(table, f"parquet_codec_{codec}.parquet", row_group_size=1500, data_page_size=1024, data_page_version="2.0",
                   compression=codec)
# Decimals as writers store them: INT32 (precision ≤ 9), INT64 (≤ 18) and FIXED_LEN_BYTE_ARRAY (38 digits), negative
# values and nulls; ContractTests.parquetDecimalsAreExact compares the text PostgreSQL holds with these.
import decimal
import uuid
ids4 = [uuid.UUID("12345678-9abc-def0-1234-56789abcdef0"), uuid.UUID(int=0), None, uuid.UUID(int=2**128 - 1)]
dec = pa.table({"id": pa.array([1, 2, 3, 4], pa.int32()),
                "u": pa.ExtensionArray.from_storage(pa.uuid(), pa.array([u.bytes if u else None for u in ids4], pa.binary(16))),
                "d32": pa.array([decimal.Decimal("1234567.89"), decimal.Decimal("-0.05"), None, decimal.Decimal("0.00")], pa.decimal128(9, 2)),
                "d64": pa.array([decimal.Decimal("-123456789012345.678"), decimal.Decimal("0.001"), decimal.Decimal("999999999999999.999"), None], pa.decimal128(18, 3)),
                "d38": pa.array([decimal.Decimal("12345678901234567890123456789012345.678"), decimal.Decimal("-98765432109876543210987654321098765.432"),
                                 decimal.Decimal("-0.001"), None], pa.decimal128(38, 3))})
pq.write_table(dec, "parquet_decimals.parquet", store_decimal_as_integer=True, compression="snappy")
print(pq.ParquetFile("parquet_decimals.parquet").schema)
