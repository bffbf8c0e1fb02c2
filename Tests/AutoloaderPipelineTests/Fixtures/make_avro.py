#!/usr/bin/env python3
"""Writes avro_<codec>.avro with fastavro (pip install fastavro cramjam): the same 1,000 records with each codec
(null, deflate, snappy, zstandard, bzip2), in blocks of ~4 KB, and avro_expected.jsonl: what fastavro reads back,
one JSON object per line, with nested values as the loader writes them (dates and times as ISO text, decimals as
numbers, bytes as base64, maps as objects). ContractTests.avroCodecsAndTypes loads each file and compares.

Types: long, string, nullable int, double, float, boolean, bytes, enum, fixed, date, time-millis, time-micros,
timestamp-millis, timestamp-micros, local-timestamp-micros, decimal (bytes and fixed, 38 digits), uuid, a record
holding an array and a nullable record, array<int>, map<long>, a union of null, string and long, an array of
records, a nullable map of arrays."""
import datetime, decimal, json, uuid
import fastavro
from loader_text import as_loaded

schema = fastavro.parse_schema({
    "type": "record", "name": "Event", "namespace": "test.avro", "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "n", "type": ["null", "int"]},
        {"name": "score", "type": "double"},
        {"name": "ratio", "type": "float"},
        {"name": "ok", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 4}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "big", "type": ["null", {"type": "fixed", "name": "Big", "size": 16, "logicalType": "decimal", "precision": 38, "scale": 4}]},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "address", "type": {"type": "record", "name": "Address", "fields": [
            {"name": "city", "type": "string"},
            {"name": "lines", "type": {"type": "array", "items": "string"}},
            {"name": "geo", "type": ["null", {"type": "record", "name": "Geo", "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}]}]}},
        {"name": "nums", "type": {"type": "array", "items": ["null", "int"]}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {"name": "either", "type": ["null", "string", "long"]},
        {"name": "items", "type": ["null", {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}, {"name": "when", "type": {"type": "int", "logicalType": "date"}}]}}]},
        {"name": "groups", "type": ["null", {"type": "map", "values": {"type": "array", "items": "Color"}}]},
    ]})

utc = datetime.timezone.utc
def record(i):
    return {
        "id": i, "name": f"name {i} ✓" if i % 5 else "", "n": None if i % 4 == 0 else i * 3 - 1000,
        "score": i * 1.25, "ratio": i / 8, "ok": i % 3 == 0, "raw": bytes([i % 256, 0, 255]), "color": ["RED", "GREEN", "BLUE"][i % 3],
        "tag": bytes([65 + i % 26] * 4),
        "day": datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
        "tm": datetime.time(i % 24, i % 60, i % 60, (i % 1000) * 1000),
        "tu": datetime.time(i % 24, 59, 1, i % 1_000_000),
        "at_ms": datetime.datetime(2024, 3, 1, tzinfo=utc) + datetime.timedelta(milliseconds=i * 3_600_123),
        "at_us": None if i % 7 == 0 else datetime.datetime(1969, 12, 31, 23, tzinfo=utc) + datetime.timedelta(microseconds=i * 1_000_001),
        "local": datetime.datetime(2030, 6, 1) + datetime.timedelta(microseconds=i * 7),
        "price": decimal.Decimal(i * 37 - 20000) / 100,
        "big": None if i % 6 == 0 else decimal.Decimal(f"{'-' if i % 2 else ''}123456789012345678901234567890{i:03d}.{i % 10000:04d}"),
        "uid": str(uuid.UUID(int=i * 7919)),
        "address": {"city": f"City {i % 17}", "lines": [f"{i} Main St", "Apt \"2\""][: i % 3],
                    "geo": None if i % 2 else {"lat": i / 100, "lon": -i / 50}},
        "nums": [i, None, -i] if i % 2 else [],
        "counts": {"a": i, "b\n": -i} if i % 3 else {},
        "either": None if i % 3 == 0 else f"s{i}" if i % 3 == 1 else i * 1_000_000_007,
        "items": None if i % 10 == 0 else [{"sku": f"S-{i}-{k}", "qty": k, "when": datetime.date(2020, 2, 29) + datetime.timedelta(days=k)} for k in range(i % 4)],
        "groups": None if i % 5 == 0 else {"x": ["RED", "BLUE"], "y": []},
    }

records = [record(i) for i in range(1, 1001)]
for codec in ("null", "deflate", "snappy", "zstandard", "bzip2"):
    with open(f"avro_{codec}.avro", "wb") as out:
        fastavro.writer(out, schema, records, codec=codec, sync_interval=4000)

with open("avro_null.avro", "rb") as f:
    back = list(fastavro.reader(f))
assert len(back) == len(records)
for codec in ("deflate", "snappy", "zstandard", "bzip2"):
    with open(f"avro_{codec}.avro", "rb") as f:
        assert list(fastavro.reader(f)) == back, codec
with open("avro_expected.jsonl", "w") as out:
    for r in back:
        out.write(json.dumps(as_loaded(r), ensure_ascii=False) + "\n")
print("sum id", sum(r["id"] for r in back), "sum n", sum(r["n"] for r in back if r["n"] is not None),
      "sum price", sum(r["price"] for r in back), "sum big", sum(r["big"] for r in back if r["big"] is not None))

# A codec we do not read (xz), and three files of one table whose schema changes: a field added, then a field whose
# type changes from long to a string that is not a number.
small = {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
with open("avro_xz.avro", "wb") as out:
    fastavro.writer(out, fastavro.parse_schema(small), [{"id": i, "name": f"n{i}"} for i in range(10)], codec="xz")
with open("avro_evolve_1.avro", "wb") as out:
    fastavro.writer(out, fastavro.parse_schema(small), [{"id": i, "name": f"n{i}"} for i in range(1, 4)])
added = {"type": "record", "name": "Row", "fields": small["fields"] + [{"name": "extra", "type": ["null", "double"]}]}
with open("avro_evolve_2.avro", "wb") as out:
    fastavro.writer(out, fastavro.parse_schema(added), [{"id": i, "name": f"n{i}", "extra": i / 2} for i in range(4, 6)])
changed = {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "string"}, {"name": "name", "type": "string"}]}
with open("avro_evolve_3.avro", "wb") as out:
    fastavro.writer(out, fastavro.parse_schema(changed), [{"id": "x-6", "name": "n6"}])
