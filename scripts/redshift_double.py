"""A Redshift double behind moto's Data API: statements really run, on the throwaway PostgreSQL, under Redshift's rules.

Each Data API `Database` is a PostgreSQL database of that name on the server in AUTOLOADER_TEST_POSTGRES (created on
first use). ExecuteStatement runs in its own session; BatchExecuteStatement runs its statements in one session as
one SERIALIZABLE transaction, as Redshift does. What must be translated is translated: COPY reads the manifest
and the objects from moto's S3, parses them the way Redshift's COPY does (CSV, text with DELIMITER/ESCAPE/
REMOVEQUOTES, JSON 'auto', Parquet via pyarrow), checks every value against the target column as Redshift
would (error codes 1202, 1204, 1205, 1206, 1207, 1214, 1216, 1220, 1224) and streams the rows into PostgreSQL;
rejected rows go to stl_load_errors / sys_load_error_detail with Redshift's columns (outside the transaction, as
on Redshift); SUPER becomes JSONB (Parquet's nested columns and JSON's objects and arrays load into it); JSON numbers
keep their text (a DECIMAL(38,4) gets every digit); string literals read backslash escapes.

Enforced (each from AWS's documentation; ../shared/reference/redshift-rules.md lists the pages):
  * BatchExecuteStatement: 1-40 statements; any statement at most 100 KB; ClientToken 1-64 characters and
    idempotent (the same token returns the same statement and runs nothing again);
  * COPY parameters: columnar formats take only ACCEPTINVCHARS, FILLRECORD, IAM_ROLE/CREDENTIALS, STATUPDATE,
    MANIFEST, EXPLICIT_IDS, SERIALIZETOJSON (REGION has its own message); CSV excludes ESCAPE, REMOVEQUOTES and
    FIXEDWIDTH; JSON excludes DELIMITER, NULL AS, IGNOREBLANKLINES and CSV; one of each parameter; IAM_ROLE is
    `default` bare or a quoted role ARN; ENCODING UTF8/UTF16/UTF16LE/UTF16BE; a mandatory manifest entry must
    exist; columnar entries need meta.content_length; JSON 'auto' cannot read a top-level array; a Parquet file
    must have the table's number of columns, with compatible types; MAXERROR is counted per COPY;
  * DDL: ALTER TABLE ... ALTER COLUMN ... TYPE only outside a transaction block, VARCHAR only, to a longer
    size; no ADD COLUMN IF NOT EXISTS; VARCHAR(n) n <= 65535 bytes (values are checked in bytes);
    DECIMAL precision <= 38;
  * the system views have their real columns: SYS_LOAD_ERROR_DETAIL has no raw_line, and a Serverless
    workgroup has no STL views; SVV_COLUMNS exists;
  * DescribeStatement: ResultRows of a batch is the sum of its sub-statements', each sub-statement has its own
    status, ResultRows and RedshiftQueryId; ListStatements filters by StatementName prefix and status.

Faults, for tests: rows of the table `redshift_double_faults` in the server's `postgres` database (created here
and by the tests with the same DDL). A row applies to submissions to its database whose SQL contains `match`,
`times` times (NULL: always):
  fail       the statement FAILS with `message`          serializable  fails with error 1023 (retry it)
  throttle   the submission answers ThrottlingException  active        ActiveStatementsExceededException
  stall      waits `seconds` before it starts            hold          runs, then waits `seconds` before COMMIT
  slow_submit  the submission is accepted and runs, but its answer comes `seconds` late (a client timeout)

Not modelled (README -> Redshift says so too): distribution, sort keys and compression encodings (ignored),
Redshift's query planner and its own SQL functions beyond those translated here, VARCHAR being counted in
bytes by PostgreSQL itself (we check values, PostgreSQL stores characters), COPY from anything but S3,
JSONPaths files, FIXEDWIDTH, SHAPEFILE, ORC and Avro (the loader restages Avro as JSON), SERIALIZETOJSON, how
SUPER spells a nested Parquet date or decimal (the double writes them as text), IAM (any role is accepted), the 24-hour
result retention.
"""
import bz2
import csv
import datetime
import decimal
import gzip
import io
import json
import os
import re
import threading
import time
import urllib.parse
import uuid

import pg8000.native
from moto.core.exceptions import JsonRESTError

STATEMENT_LIMIT = 100 * 1024
FAULTS_DDL = ("CREATE TABLE IF NOT EXISTS redshift_double_faults (database TEXT NOT NULL, match TEXT NOT NULL DEFAULT '', "
              "action TEXT NOT NULL, seconds FLOAT NOT NULL DEFAULT 0, times INT, message TEXT)")


class RedshiftError(Exception):
    """An error Redshift would report for a statement (the statement FAILS)."""


class LoadFailed(RedshiftError):
    pass


# --- PostgreSQL ---------------------------------------------------------------------------------------------------

def _server():
    url = os.environ.get("AUTOLOADER_TEST_POSTGRES")
    if not url:
        raise RedshiftError("the Redshift double runs statements on PostgreSQL: start moto_server with AUTOLOADER_TEST_POSTGRES set "
                            "(scripts/test does)")
    u = urllib.parse.urlparse(url)
    return dict(user=urllib.parse.unquote(u.username or "postgres"), password=u.password and urllib.parse.unquote(u.password),
                host=u.hostname or "127.0.0.1", port=u.port or 5432)


def connect(database, timeout=30):
    return pg8000.native.Connection(database=database, timeout=timeout, **_server())


_created = set()
_created_lock = threading.Lock()

SYSTEM_SQL = [
    "CREATE SCHEMA IF NOT EXISTS redshift_sys",
    "CREATE SCHEMA IF NOT EXISTS redshift_stl",
    # STL_LOAD_ERRORS as documented (provisioned clusters only): fixed-width CHAR columns, hence TRIM in queries.
    """CREATE TABLE IF NOT EXISTS redshift_stl.stl_load_errors (userid INT, slice INT, tbl INT, starttime TIMESTAMP, session INT,
       query INT, filename CHAR(256), line_number BIGINT, colname CHAR(127), type CHAR(10), col_length CHAR(10), position INT,
       raw_line CHAR(1024), raw_field_value CHAR(1024), err_code INT, err_reason CHAR(100), is_partial INT, start_offset BIGINT)""",
    # SYS_LOAD_ERROR_DETAIL as documented: no raw line.
    """CREATE TABLE IF NOT EXISTS redshift_sys.sys_load_error_detail (user_id INT, query_id BIGINT, transaction_id BIGINT,
       session_id INT, database_name CHAR(128), table_id INT, start_time TIMESTAMP, file_name CHAR(1280), line_number BIGINT,
       column_name CHAR(127), column_type CHAR(128), column_length CHAR(10), position INT, error_code INT, error_message CHAR(512))""",
    """CREATE OR REPLACE VIEW redshift_sys.svv_columns AS SELECT table_catalog::text, table_schema::text, table_name::text,
       column_name::text, ordinal_position::int, column_default::text, is_nullable::text, data_type::text,
       character_maximum_length::int, numeric_precision::int, numeric_scale::int FROM information_schema.columns""",
]


def ensure_database(name):
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name or "") or name in ("postgres", "template0", "template1"):
        raise RedshiftError(f'database "{name}" does not exist (the double maps Data API databases to PostgreSQL databases '
                            f'named [a-z_][a-z0-9_]*, other than postgres)')
    with _created_lock:
        if name in _created:
            return
        admin = connect("postgres")
        try:
            if not admin.run("SELECT 1 FROM pg_database WHERE datname = :n", n=name):
                try:
                    admin.run(f'CREATE DATABASE "{name}"')
                except pg8000.native.DatabaseError as e:
                    if _code(e) != "42P04":  # created meanwhile by someone else
                        raise
            admin.run(FAULTS_DDL)
        finally:
            admin.close()
        con = connect(name)
        try:
            for sql in SYSTEM_SQL:
                con.run(sql)
        finally:
            con.close()
        _created.add(name)


def _code(e):
    a = e.args[0] if e.args else None
    return a.get("C") if isinstance(a, dict) else None


def _message(e):
    a = e.args[0] if e.args else None
    if isinstance(a, dict):
        return a.get("M", str(a)) + (f" ({a['W']})" if a.get("W") else "")
    return str(e)


_faults_table = False


def take_faults(database, sql):
    """The fault of each action for this submission: per action, the first row whose match is in the SQL (its
    `times` counted down)."""
    global _faults_table
    con = connect("postgres")
    try:
        if not _faults_table:
            con.run(FAULTS_DDL)
            _faults_table = True
        rows = con.run("SELECT ctid::text, match, action, seconds, times, message FROM redshift_double_faults "
                       "WHERE database = :d AND (times IS NULL OR times > 0) ORDER BY ctid", d=database)
        found = {}
        for ctid, match, action, seconds, times, message in rows:
            if match in sql and action not in found:
                if times is not None:
                    con.run("UPDATE redshift_double_faults SET times = times - 1 WHERE ctid = CAST(:c AS tid)", c=ctid)
                found[action] = dict(action=action, seconds=seconds or 0, message=message)
        return found
    finally:
        con.close()


# --- SQL translation and DDL rules ----------------------------------------------------------------------------------

def split_literals(sql):
    """(is_literal, text) pieces: rules and rewrites apply outside string literals and quoted identifiers."""
    out, i, start = [], 0, 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            if i > start:
                out.append((False, sql[start:i]))
            j = i + 1
            while j < len(sql):
                if c == "'" and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < len(sql) and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append((True, sql[i:j + 1]))
            i = start = j + 1
            continue
        i += 1
    if start < len(sql):
        out.append((False, sql[start:]))
    return out


def translate(sql):
    parts = []
    for quoted, text in split_literals(sql):
        if not quoted:
            upper = text.upper()
            for m in re.finditer(r"\b(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", upper):
                p, s = int(m.group(1)), int(m.group(2) or 0)
                if p < 1 or p > 38:
                    raise RedshiftError(f"ERROR: DECIMAL precision {p} must be between 1 and 38")
                if s > p:
                    raise RedshiftError(f"ERROR: DECIMAL scale {s} must be between 0 and precision {p}")
            for m in re.finditer(r"\b(?:VARCHAR|CHARACTER\s+VARYING|CHAR|CHARACTER|NCHAR|NVARCHAR|BPCHAR)\s*\(\s*(\d+)\s*\)", upper):
                if int(m.group(1)) > 65535 or int(m.group(1)) < 1:
                    raise RedshiftError(f"ERROR: length for type varchar cannot exceed 65535 (got {m.group(1)})")
            if re.search(r"\bADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\b", upper):
                raise RedshiftError('ERROR: syntax error at or near "NOT" (Redshift has no ADD COLUMN IF NOT EXISTS)')
            text = re.sub(r"(?i)\bSUPER\b", "JSONB", text)
            text = re.sub(r"(?i)\b(VARCHAR|CHARACTER VARYING)\s*\(\s*MAX\s*\)", r"\1(65535)", text)
            text = re.sub(r"(?i)\bGETDATE\s*\(\s*\)", "now()::timestamp", text)
            text = re.sub(r"(?i)\bDISTSTYLE\s+(AUTO|EVEN|KEY|ALL)\b", "", text)
            text = re.sub(r"(?i)\bDISTKEY\s*\([^)]*\)", "", text)
            text = re.sub(r"(?i)\b(COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*(\([^)]*\)|AUTO\b)", "", text)
            text = re.sub(r"(?i)\bENCODE\s+\w+", "", text)
        parts.append(text)
    return "".join(parts)


ALTER_TYPE = re.compile(r'(?is)^\s*ALTER\s+TABLE\s+(?P<table>\S+)\s+ALTER\s+COLUMN\s+(?P<column>"(?:[^"]|"")+"|\w+)\s+TYPE\s+(?P<type>.+?)\s*;?\s*$')


def check_alter_type(con, sql, in_block):
    m = ALTER_TYPE.match(sql)
    if not m:
        return
    if in_block:
        raise RedshiftError("ERROR: ALTER TABLE ALTER COLUMN cannot run inside a transaction block")
    new = re.fullmatch(r"(?i)(VARCHAR|CHARACTER VARYING)\s*\(\s*(\d+|MAX)\s*\)", m.group("type").strip())
    column = m.group("column").strip('"').replace('""', '"')
    rows = con.run("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attname = :c "
                   "AND attnum > 0 AND NOT attisdropped", t=m.group("table"), c=column)
    if not rows:
        raise RedshiftError(f'ERROR: column "{column}" does not exist')
    old = re.fullmatch(r"character varying\((\d+)\)", rows[0][0])
    if not new or not old:
        raise RedshiftError(f"ERROR: target data type {m.group('type').strip()} is not supported: ALTER COLUMN TYPE only makes a VARCHAR longer "
                            f"(column {column} is {rows[0][0]})")
    size = 65535 if new.group(2).upper() == "MAX" else int(new.group(2))
    if size <= int(old.group(1)):
        raise RedshiftError(f"ERROR: cannot alter column {column} to a smaller or equal size ({rows[0][0]} to VARCHAR({size}))")


# --- COPY: parameters ------------------------------------------------------------------------------------------------

COPY_HEAD = re.compile(r'(?is)^\s*COPY\s+(?P<table>(?:"(?:[^"]|"")+"|[\w$]+)(?:\.(?:"(?:[^"]|"")+"|[\w$]+))?)\s*'
                       r'(?:\((?P<columns>[^)]*)\))?\s*FROM\s+(?P<from>\'(?:[^\'\\]|\'\'|\\.)*\')(?P<rest>.*)$')
TOKEN = re.compile(r"\s*(?:(?P<lit>'(?:[^'\\]|''|\\.)*')|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>\d+)|(?P<semi>;)|(?P<other>\S))")
COLUMNAR_OK = {"IAM_ROLE", "CREDENTIALS", "MANIFEST", "ACCEPTINVCHARS", "FILLRECORD", "STATUPDATE", "EXPLICIT_IDS",
               "SERIALIZETOJSON", "FORMAT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"}
FLAGS = {"MANIFEST", "GZIP", "BZIP2", "ZSTD", "LZOP", "EMPTYASNULL", "BLANKSASNULL", "ESCAPE", "REMOVEQUOTES", "FILLRECORD",
         "TRUNCATECOLUMNS", "TRIMBLANKS", "IGNOREBLANKLINES", "ACCEPTANYDATE", "ROUNDEC", "EXPLICIT_IDS", "SERIALIZETOJSON", "NOLOAD"}
WITH_VALUE = {"REGION", "DELIMITER", "QUOTE", "IGNOREHEADER", "DATEFORMAT", "TIMEFORMAT", "ENCODING", "MAXERROR", "FIXEDWIDTH",
              "CREDENTIALS", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "JSON", "AVRO"}


def unliteral(lit):
    body = lit[1:-1]
    out, i = [], 0
    escapes = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        elif c == "'" and i + 1 < len(body) and body[i + 1] == "'":
            out.append("'")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def ident(text):
    text = text.strip()
    return text[1:-1].replace('""', '"') if text.startswith('"') else text.lower()


def parse_copy(sql):
    m = COPY_HEAD.match(sql)
    if not m:
        raise RedshiftError(f"ERROR: syntax error in COPY: {sql[:120]}")
    p = {"table": m.group("table"), "columns": [ident(c) for c in m.group("columns").split(",")] if m.group("columns") else None,
         "from": unliteral(m.group("from")), "format": "TEXT", "params": {}}
    tokens = [t for t in TOKEN.finditer(m.group("rest")) if t.group(0).strip()]
    i = 0

    def value(kinds=("lit",)):
        nonlocal i
        if i < len(tokens) and tokens[i].group("word") and tokens[i].group("word").upper() == "AS":
            i += 1
        if i >= len(tokens):
            raise RedshiftError("ERROR: syntax error at end of input")
        t = tokens[i]
        for k in kinds:
            if t.group(k) is not None:
                i += 1
                return unliteral(t.group(k)) if k == "lit" else t.group(k)
        raise RedshiftError(f'ERROR: syntax error at or near "{t.group(0).strip()}"')

    def setp(name, v):
        if name in p["params"]:
            raise RedshiftError(f"ERROR: conflicting or redundant options: {name} given twice")
        p["params"][name] = v

    while i < len(tokens):
        t = tokens[i]
        if t.group("semi"):
            i += 1
            continue
        word = (t.group("word") or "").upper()
        if not word:
            raise RedshiftError(f'ERROR: syntax error at or near "{t.group(0).strip()}"')
        i += 1
        if word == "IAM_ROLE":
            if i < len(tokens) and (tokens[i].group("word") or "").upper() == "DEFAULT":
                i += 1
                setp("IAM_ROLE", "default")
            else:
                role = value()
                for r in role.split(","):
                    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", r):
                        raise RedshiftError(f"ERROR: Invalid role ARN '{role}' (IAM_ROLE takes default, unquoted, or a quoted role ARN)")
                setp("IAM_ROLE", role)
        elif word == "FORMAT":
            fmt = value(("word",)).upper()
            if fmt not in ("CSV", "JSON", "PARQUET", "ORC", "AVRO", "FIXEDWIDTH", "SHAPEFILE"):
                raise RedshiftError(f'ERROR: syntax error at or near "{fmt}"')
            setp("FORMAT", fmt)
            p["format"] = fmt
            if fmt in ("JSON", "AVRO") and i < len(tokens) and tokens[i].group("lit"):
                p["params"]["FORMAT_ARG"] = value()
            if fmt == "CSV" and i < len(tokens) and (tokens[i].group("word") or "").upper() == "QUOTE":
                i += 1
                setp("QUOTE", value())
        elif word in ("CSV", "PARQUET", "ORC"):
            setp("FORMAT", word)
            p["format"] = word
            if word == "CSV" and i < len(tokens) and (tokens[i].group("word") or "").upper() == "QUOTE":
                i += 1
                setp("QUOTE", value())
        elif word in ("JSON", "AVRO"):
            setp("FORMAT", word)
            p["format"] = word
            p["params"]["FORMAT_ARG"] = value()
        elif word in ("IGNOREHEADER", "MAXERROR"):
            setp(word, int(value(("num",))))
        elif word == "ENCODING":
            enc = value(("word",)).upper()
            if enc not in ("UTF8", "UTF16", "UTF16LE", "UTF16BE"):
                raise RedshiftError(f"ERROR: ENCODING {enc} is not supported: UTF8, UTF16, UTF16LE or UTF16BE")
            setp("ENCODING", enc)
        elif word in ("STATUPDATE", "COMPUPDATE"):
            v = "ON"
            if i < len(tokens) and (tokens[i].group("word") or "").upper() in ("ON", "OFF", "TRUE", "FALSE", "PRESET"):
                v = tokens[i].group("word").upper()
                i += 1
            setp(word, v)
        elif word == "ACCEPTINVCHARS":
            v = "?"
            if i < len(tokens) and ((tokens[i].group("word") or "").upper() == "AS" or tokens[i].group("lit")):
                v = value()
            setp(word, v)
        elif word == "NULL":
            setp("NULL", value())
        elif word in WITH_VALUE:
            setp(word, value())
        elif word in FLAGS:
            setp(word, True)
        else:
            raise RedshiftError(f'ERROR: syntax error at or near "{word}"')
    params = p["params"]
    if "IAM_ROLE" not in params and "CREDENTIALS" not in params and "ACCESS_KEY_ID" not in params:
        raise RedshiftError("ERROR: COPY needs IAM_ROLE or CREDENTIALS")
    fmt = p["format"]
    if fmt in ("PARQUET", "ORC"):
        for name in params:
            if name == "REGION":
                raise RedshiftError(f"ERROR: REGION argument is not supported for {fmt} based COPY")
            if name not in COLUMNAR_OK and name != "FORMAT_ARG":
                raise RedshiftError(f"ERROR: {name} argument is not supported for {fmt} based COPY")
    if fmt == "CSV":
        for bad in ("ESCAPE", "REMOVEQUOTES", "FIXEDWIDTH"):
            if bad in params:
                raise RedshiftError(f"ERROR: CSV is not compatible with {bad}")
    if fmt == "JSON":
        for bad in ("DELIMITER", "NULL", "IGNOREBLANKLINES", "REMOVEQUOTES", "ESCAPE"):
            if bad in params:
                raise RedshiftError(f"ERROR: {bad if bad != 'NULL' else 'NULL AS'} is not supported with JSON")
        arg = params.get("FORMAT_ARG", "auto").lower()
        if arg not in ("auto", "auto ignorecase", "noshred"):
            raise RedshiftError(f"ERROR: the double does not model JSONPaths files ({arg})")
    if fmt in ("ORC", "AVRO", "FIXEDWIDTH", "SHAPEFILE") or "FIXEDWIDTH" in params:
        raise RedshiftError(f"ERROR: the Redshift double does not model {fmt if fmt != 'TEXT' else 'FIXEDWIDTH'} COPY")
    if "LZOP" in params:
        raise RedshiftError("ERROR: the Redshift double does not model LZOP")
    for name in ("DELIMITER", "QUOTE"):
        if name in params and len(params[name]) != 1:
            raise RedshiftError(f"ERROR: {name} must be a single character, got '{params[name]}'")
    return p


# --- COPY: reading the files -----------------------------------------------------------------------------------------

def s3_backend(bucket):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    partition, account = s3_backends.bucket_accounts.get(bucket, ("aws", DEFAULT_ACCOUNT_ID))
    return s3_backends[account][partition]


def s3_get(url):
    if not url.startswith("s3://"):
        raise RedshiftError(f"ERROR: the double reads only s3:// URLs, not {url}")
    bucket, _, key = url[5:].partition("/")
    try:
        obj = s3_backend(bucket).get_object(bucket, key)
    except Exception:
        return None
    return None if obj is None else bytes(obj.value)


def s3_list(url):
    bucket, _, prefix = url[5:].partition("/")
    try:
        keys = s3_backend(bucket).list_objects(s3_backend(bucket).get_bucket(bucket), prefix, None, None, None)[0]
    except Exception:
        return []
    return [f"s3://{bucket}/{k.name}" for k in keys if not k.name.endswith("/")]


def files_of(p):
    fmt = p["format"]
    if "MANIFEST" in p["params"]:
        raw = s3_get(p["from"])
        if raw is None:
            raise RedshiftError(f"ERROR: Manifest file is not found: {p['from']}")
        try:
            entries = json.loads(raw)["entries"]
        except Exception as e:
            raise RedshiftError(f"ERROR: Manifest file is invalid: {p['from']}: {e}")
        out = []
        for e in entries:
            url, mandatory = e.get("url"), e.get("mandatory", False)
            if fmt in ("PARQUET", "ORC") and not isinstance(e.get("meta", {}).get("content_length"), int):
                raise RedshiftError(f"ERROR: content_length is required in the manifest for {fmt} files: {url}")
            data = s3_get(url)
            if data is None:
                if mandatory:
                    raise RedshiftError(f"ERROR: Manifest file is invalid: mandatory file not found: {url}")
                continue
            out.append((url, data))
        return out
    urls = s3_list(p["from"])
    if not urls:
        raise RedshiftError(f"ERROR: The specified S3 prefix '{p['from']}' does not exist")
    return [(u, s3_get(u)) for u in urls]


def decompress(params, url, data):
    try:
        if "GZIP" in params:
            return gzip.decompress(data)
        if "BZIP2" in params:
            return bz2.decompress(data)
        if "ZSTD" in params:
            import zstandard
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except Exception as e:
        raise LoadFailed(f"ERROR: {url}: cannot decompress: {e}")
    return data


class BadRow(Exception):
    def __init__(self, code, reason, column=None, value="", position=0):
        super().__init__(reason)
        self.code, self.reason, self.column, self.value, self.position = code, reason, column, value, position


def decode(params, data):
    """Text per ENCODING; invalid bytes are error 1220 unless ACCEPTINVCHARS (returns text, [(line, BadRow)])."""
    enc = params.get("ENCODING", "UTF8")
    if enc == "UTF8":
        if "ACCEPTINVCHARS" in params:
            return data.decode("utf-8", errors="replace").replace("\ufffd", params["ACCEPTINVCHARS"]), []
        try:
            return data.decode("utf-8"), []
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b"\n") + 1
            raise BadRowAt(line, BadRow(1220, f"Invalid UTF8 character at byte {e.start}: 0x{data[e.start]:02x}; COPY reads UTF-8 "
                                              f"(or UTF-16 with ENCODING)", value=data[max(0, e.start - 10):e.start + 10].decode("latin-1")))
    codec = {"UTF16": "utf-16", "UTF16LE": "utf-16-le", "UTF16BE": "utf-16-be"}[enc]
    return data.decode(codec, errors="replace").lstrip("\ufeff"), []


class BadRowAt(Exception):
    def __init__(self, line, bad, raw=""):
        super().__init__(bad.reason)
        self.line, self.bad, self.raw = line, bad, raw


def text_records(params, text, csv_mode):
    """(line number, raw line, fields) per record, as Redshift's COPY splits them."""
    skip = params.get("IGNOREHEADER", 0)
    delim = params.get("DELIMITER", "," if csv_mode else "|")
    quote = params.get("QUOTE", '"')
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    start = skip
    if csv_mode:
        body = io.StringIO("\n".join(lines[start:]) + "\n")
        reader = csv.reader(body, delimiter=delim, quotechar=quote, doublequote=True, strict=False)
        last = 0
        for fields in reader:
            first = start + last + 1
            last = reader.line_num
            raw = "\n".join(lines[first - 1:start + last])
            if not fields and "IGNOREBLANKLINES" in params:
                continue
            yield first, raw, fields if fields else [""]
        return
    escape, removequotes = "ESCAPE" in params, "REMOVEQUOTES" in params
    i = start
    while i < len(lines):
        first = i + 1
        raw = lines[i]
        while escape and raw.endswith("\\") and not raw.endswith("\\\\") and i + 1 < len(lines):
            i += 1
            raw = raw[:-1] + "\n" + lines[i]
        i += 1
        if raw == "" and "IGNOREBLANKLINES" in params:
            continue
        fields, cur, inq, j, quoted = [], [], False, 0, False
        while j < len(raw):
            c = raw[j]
            if escape and c == "\\" and j + 1 < len(raw):
                cur.append(raw[j + 1])
                j += 2
                continue
            if removequotes and c == '"':
                inq = not inq
                quoted = True
                j += 1
                continue
            if c == delim and not inq:
                fields.append(("".join(cur), quoted))
                cur, quoted = [], False
            else:
                cur.append(c)
            j += 1
        fields.append(("".join(cur), quoted))
        yield first, raw, [f for f, _ in fields]


def json_records(params, text, url):
    arg = params.get("FORMAT_ARG", "auto").lower()
    # Numbers keep their text (COPY reads a JSON number into DECIMAL(38,4) digit for digit, not through a double).
    dec = json.JSONDecoder(parse_float=decimal.Decimal)
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return
        line = text.count("\n", 0, i) + 1
        if text[i] == "[":
            raise BadRowAt(line, BadRow(1224, "Invalid JSON: the file is one top-level array; JSON 'auto' reads objects "
                                              "one after another, not an array of them"), text[i:i + 200])
        try:
            obj, end = dec.raw_decode(text, i)
        except ValueError as e:
            raise BadRowAt(line, BadRow(1224, f"Invalid JSON object: {e}"), text[i:i + 200])
        if not isinstance(obj, dict):
            raise BadRowAt(line, BadRow(1224, "Invalid JSONPath format: a JSON object is expected"), text[i:end])
        raw = text[i:end]
        i = end
        if arg == "auto ignorecase":
            obj = {k.lower(): v for k, v in obj.items()}
        yield line, raw, obj


# --- COPY: values --------------------------------------------------------------------------------------------------

def redshift_format(fmt):
    """A Redshift DATEFORMAT/TIMEFORMAT string as strptime."""
    out, i = "", 0
    tokens = [("YYYY", "%Y"), ("HH24", "%H"), ("HH12", "%I"), ("MONTH", "%B"), ("MON", "%b"), ("YY", "%y"), ("MM", "%m"),
              ("DD", "%d"), ("HH", "%I"), ("MI", "%M"), ("SS", "%S"), ("AM", "%p"), ("PM", "%p"), ("US", "%f"), ("MS", "%f")]
    while i < len(fmt):
        for t, s in tokens:
            if fmt[i:i + len(t)].upper() == t:
                out += s
                i += len(t)
                break
        else:
            out += "%%" if fmt[i] == "%" else fmt[i]
            i += 1
    return out


AUTO_DATES = ["%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y%m%d", "%m/%d/%y", "%d-%b-%Y", "%b %d %Y", "%b %d, %Y", "%d %b %Y", "%Y.%m.%d"]
AUTO_TIMES = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
              "%Y/%m/%d %H:%M:%S", "%Y%m%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y", "%d-%b-%Y %H:%M:%S"]


def parse_time(value, fmt, with_time):
    v = value.strip()
    if fmt.lower() == "epochsecs" and with_time:
        return datetime.datetime.fromtimestamp(float(v), datetime.timezone.utc).replace(tzinfo=None), None
    if fmt.lower() == "epochmillisecs" and with_time:
        return datetime.datetime.fromtimestamp(float(v) / 1000, datetime.timezone.utc).replace(tzinfo=None), None
    tz = None
    m = re.search(r"(Z|[+-]\d{2}(?::?\d{2})?)$", v) if with_time and len(v) > 10 else None
    if m:
        z = m.group(1)
        tz = datetime.timezone.utc if z == "Z" else datetime.timezone(
            (1 if z[0] == "+" else -1) * datetime.timedelta(hours=int(z[1:3]), minutes=int(z[-2:]) if len(z) > 3 else 0))
        v = v[:m.start()].rstrip()
    frac = ""
    m = re.search(r"\.(\d{1,9})$", v)
    if m and with_time:
        frac, v = m.group(1), v[:m.start()]
    formats = (AUTO_TIMES if with_time else AUTO_DATES + [f + " %H:%M:%S" for f in AUTO_DATES[:3]]) if fmt.lower() == "auto" else [redshift_format(fmt)]
    for f in formats:
        f2 = f.replace(".%f", "")
        try:
            t = datetime.datetime.strptime(v, f2)
        except ValueError:
            continue
        if frac:
            t = t.replace(microsecond=int((frac + "000000")[:6]))
        return t, tz
    raise ValueError(value)


def check_value(value, column, params):
    """The value as PostgreSQL should store it (text), or BadRow with Redshift's error code."""
    name, typ = column
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        # Nested values: JSON numbers as numbers; Parquet's dates, decimals and bytes (as pyarrow reads them) as text.
        text = json.dumps(value, default=lambda v: float(v) if isinstance(v, decimal.Decimal) else str(v))
        if typ == "jsonb":
            return text
        value = text
    if isinstance(value, decimal.Decimal):
        value = format(value, "f")
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif not isinstance(value, str):
        value = str(value)
    stripped = value.strip()
    is_char = typ.startswith("character") or typ == "text"
    if is_char:
        if "EMPTYASNULL" in params and value == "":
            return None
        if "BLANKSASNULL" in params and stripped == "":
            return None
        if "TRIMBLANKS" in params:
            value = value.rstrip(" ")
        m = re.search(r"\((\d+)\)", typ)
        if m and len(value.encode("utf-8")) > int(m.group(1)):
            if "TRUNCATECOLUMNS" in params:
                b = value.encode("utf-8")[:int(m.group(1))]
                return b.decode("utf-8", errors="ignore")
            raise BadRow(1204, f"String length exceeds DDL length: {len(value.encode('utf-8'))} bytes > {m.group(1)}", name, value)
        return value
    if stripped == "":
        return None  # empty fields of non-character columns load as NULL
    if typ in ("smallint", "integer", "bigint"):
        if not re.fullmatch(r"[+-]?\d+", stripped):
            pos = next((k for k, c in enumerate(stripped) if not (c.isdigit() or (k == 0 and c in "+-"))), 0)
            raise BadRow(1207, f"Invalid digit, Value '{stripped[pos:pos + 1]}', Pos {pos}, Type: {typ.capitalize()}", name, value, pos)
        limit = {"smallint": 2 ** 15, "integer": 2 ** 31, "bigint": 2 ** 63}[typ]
        if not -limit <= int(stripped) < limit:
            raise BadRow(1216, f"Overflow, Value '{stripped}', Type: {typ.capitalize()}", name, value)
        return stripped
    if typ.startswith("numeric"):
        m = re.fullmatch(r"numeric\((\d+),(\d+)\)", typ)
        p, s = (int(m.group(1)), int(m.group(2))) if m else (18, 0)
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", stripped):
            pos = next((k for k, c in enumerate(stripped) if not (c.isdigit() or c == "." or (k == 0 and c in "+-"))), 0)
            raise BadRow(1207, f"Invalid digit, Value '{stripped[pos:pos + 1]}', Pos {pos}, Type: Decimal", name, value, pos)
        whole, _, frac = stripped.lstrip("+-").partition(".")
        if len(whole.lstrip("0")) > p - s:
            raise BadRow(1216, f"Numeric data overflow (result precision): {stripped} in DECIMAL({p},{s})", name, value)
        if len(frac) > s and "ROUNDEC" not in params:  # COPY truncates extra decimal places unless ROUNDEC
            frac = frac[:s]
        sign = "-" if stripped.startswith("-") else ""
        return f"{sign}{whole or '0'}{'.' + frac if frac else ''}" if "ROUNDEC" not in params else stripped
    if typ in ("double precision", "real"):
        try:
            float(stripped)
        except ValueError:
            raise BadRow(1207, f"Invalid digit, Value '{stripped[:1]}', Pos 0, Type: Double", name, value)
        return stripped
    if typ == "boolean":
        low = stripped.lower()
        if low in ("t", "true", "y", "yes", "1"):
            return "true"
        if low in ("f", "false", "n", "no", "0"):
            return "false"
        raise BadRow(1206, f"Invalid boolean value '{stripped}'", name, value)
    if typ == "date":
        try:
            t, _ = parse_time(stripped, params.get("DATEFORMAT", "auto"), False)
        except ValueError:
            raise BadRow(1205, f"Invalid Date Format - length must be 10 or more; value '{stripped}' does not match DATEFORMAT "
                               f"'{params.get('DATEFORMAT', 'auto')}'", name, value)
        return t.date().isoformat()
    if typ.startswith("timestamp"):
        try:
            t, tz = parse_time(stripped, params.get("TIMEFORMAT", "auto"), True)
        except ValueError:
            raise BadRow(1206, f"Invalid timestamp format or value '{stripped}' for TIMEFORMAT '{params.get('TIMEFORMAT', 'auto')}'", name, value)
        if typ == "timestamp with time zone":
            return (t.replace(tzinfo=tz or datetime.timezone.utc)).isoformat()
        if tz is not None:  # Redshift stores TIMESTAMP without zone: an offset is applied to UTC
            t = t.replace(tzinfo=tz).astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return t.isoformat(sep=" ")
    if typ == "jsonb":
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return value


def pg_text(value):
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def arrow_family(t):
    import pyarrow.types as pt
    if pt.is_integer(t):
        return "int"
    if pt.is_floating(t):
        return "float"
    if pt.is_decimal(t):
        return "decimal"
    if pt.is_boolean(t):
        return "bool"
    if pt.is_date(t):
        return "date"
    if pt.is_timestamp(t):
        return "timestamp"
    if pt.is_string(t) or pt.is_large_string(t) or pt.is_binary(t):
        return "string"
    return "nested"


def pg_family(typ):
    if typ in ("smallint", "integer", "bigint"):
        return {"int"}
    if typ.startswith("numeric"):
        return {"int", "decimal"}
    if typ in ("double precision", "real"):
        return {"float", "int", "decimal"}
    if typ == "boolean":
        return {"bool"}
    if typ == "date":
        return {"date"}
    if typ.startswith("timestamp"):
        return {"timestamp"}
    if typ == "jsonb":
        return {"nested", "string", "int", "float", "bool"}
    return {"string"}


def parquet_rows(url, data, columns):
    import pyarrow.parquet as pq
    table = pq.read_table(io.BytesIO(data))
    if table.num_columns != len(columns):
        raise LoadFailed(f"ERROR: Spectrum Scan Error: {url}: the file has {table.num_columns} columns and the table {len(columns)}: "
                         f"COPY of Parquet maps columns by position")
    for (name, typ), field in zip(columns, table.schema):
        fam = arrow_family(field.type)
        if fam not in pg_family(typ):
            raise LoadFailed(f"ERROR: Spectrum Scan Error: File '{url}' has an incompatible Parquet schema for column '{name}'. "
                             f"Column type: {typ}, Parquet schema: {field.type}")
    for n, row in enumerate(table.to_pylist(), start=1):
        values = []
        for (name, typ), v in zip(columns, row.values()):
            if isinstance(v, (datetime.datetime, datetime.date)):
                v = v.isoformat()
            elif isinstance(v, decimal.Decimal):
                v = format(v, "f")
            elif isinstance(v, bytes):
                v = v.decode("utf-8", errors="replace")
            values.append(v)
        yield n, "", values


# --- COPY: the statement -----------------------------------------------------------------------------------------------

def run_copy(session, sql, query_id):
    p = parse_copy(sql)
    con = session.con
    cols = con.run("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
                   "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", t=p["table"])
    if not cols:
        raise RedshiftError(f'ERROR: relation "{p["table"]}" does not exist')
    by_name = {c[0]: c[1] for c in cols}
    if p["columns"]:
        missing = [c for c in p["columns"] if c not in by_name]
        if missing:
            raise RedshiftError(f'ERROR: column "{missing[0]}" of relation "{p["table"]}" does not exist')
        columns = [(c, by_name[c]) for c in p["columns"]]
    else:
        columns = [(c[0], c[1]) for c in cols]
    params, fmt = p["params"], p["format"]
    max_errors = params.get("MAXERROR", 0)
    errors, loaded = [], 0
    target = ", ".join('"' + c.replace('"', '""') + '"' for c, _ in columns)
    for url, data in files_of(p):
        out = io.StringIO()
        try:
            if fmt == "PARQUET":
                records = parquet_rows(url, data, columns)
            else:
                text, _ = decode(params, decompress(params, url, data))
                records = json_records(params, text, url) if fmt == "JSON" else text_records(params, text, fmt == "CSV")
            for line, raw, fields in records:
                try:
                    if isinstance(fields, dict):
                        values = [fields.get(c) for c, _ in columns]
                    else:
                        values = fields
                        if fmt != "PARQUET":
                            null = params.get("NULL", None if fmt == "CSV" else "\\N")
                            values = [None if null is not None and v == null else v for v in values]
                        if len(values) > len(columns):
                            raise BadRow(1202, f"Extra column(s) found: {len(values)} fields for {len(columns)} columns", None, raw)
                        if len(values) < len(columns):
                            if "FILLRECORD" not in params:
                                raise BadRow(1214, f"Delimiter not found: {len(values)} fields for {len(columns)} columns", None, raw)
                            values = values + [None] * (len(columns) - len(values))
                    row = [check_value(v, c, params) for v, c in zip(values, columns)]
                except BadRow as bad:
                    errors.append((url, line, raw, bad))
                    if len(errors) > max_errors:
                        raise LoadFailed(session.load_failed(p["table"]))
                    continue
                out.write("\t".join(pg_text(v) for v in row) + "\n")
        except BadRowAt as at:
            errors.append((url, at.line, at.raw, at.bad))
            raise LoadFailed(session.load_failed(p["table"]))
        finally:
            if errors:
                session.record_load_errors(p["table"], query_id, errors)
                errors_recorded = len(errors)
                errors.clear()
                max_errors -= errors_recorded
        body = out.getvalue().encode("utf-8")
        if body:
            try:
                con.run(f"COPY {p['table']} ({target}) FROM STDIN", stream=io.BytesIO(body))
            except pg8000.native.DatabaseError as e:
                raise LoadFailed(f"ERROR: {url}: {_message(e)}")
            loaded += body.count(b"\n")
    return loaded


# --- Sessions and statements --------------------------------------------------------------------------------------------

class Session:
    """One Redshift session: a PostgreSQL connection with Redshift's literal rules and the deployment's system views."""

    def __init__(self, database, serverless):
        self.database, self.serverless = database, serverless
        self.con = connect(database)
        views = "redshift_sys" if serverless else "redshift_sys, redshift_stl"
        self.con.run(f'SET search_path TO "$user", public, {views}')
        self.con.run("SET standard_conforming_strings TO off")  # Redshift literals read backslash escapes
        self.con.run("SET escape_string_warning TO off")
        self.pid = self.con.run("SELECT pg_backend_pid()")[0][0]
        self.in_block = False

    def close(self):
        try:
            self.con.close()
        except Exception:
            pass

    def load_failed(self, table):
        view = "sys_load_error_detail" if self.serverless else "stl_load_errors"
        return f"ERROR: Load into table '{ident(table.split('.')[-1])}' failed. Check '{view}' system table for details."

    def record_load_errors(self, table, query_id, errors):
        """Outside the transaction, as Redshift's system tables are: a rolled-back COPY keeps its rejected rows."""
        con = connect(self.database)
        try:
            for url, line, raw, bad in errors:
                con.run("INSERT INTO redshift_stl.stl_load_errors (userid, slice, tbl, starttime, session, query, filename, line_number, "
                        "colname, type, col_length, position, raw_line, raw_field_value, err_code, err_reason, is_partial, start_offset) "
                        "VALUES (100, 0, 0, now()::timestamp, :s, :q, :f, :l, :c, '', '', :p, :r, :v, :e, :m, 0, 0)",
                        s=self.pid, q=query_id, f=url[:256], l=line, c=(bad.column or "")[:127], p=bad.position, r=(raw or "")[:1024],
                        v=(bad.value or "")[:1024], e=bad.code, m=bad.reason[:100])
                con.run("INSERT INTO redshift_sys.sys_load_error_detail (user_id, query_id, transaction_id, session_id, database_name, table_id, "
                        "start_time, file_name, line_number, column_name, column_type, column_length, position, error_code, error_message) "
                        "VALUES (100, :q, 0, :s, :d, 0, now()::timestamp, :f, :l, :c, '', '', :p, :e, :m)",
                        q=query_id, s=self.pid, d=self.database, f=url[:1280], l=line, c=(bad.column or "")[:127], p=bad.position,
                        e=bad.code, m=bad.reason[:512])
        finally:
            con.close()

    def execute(self, sql, query_id):
        """Runs one statement: (result rows or None, column metadata, ResultRows)."""
        if len(sql.encode("utf-8")) > STATEMENT_LIMIT:
            raise RedshiftError(f"ERROR: the statement is {len(sql.encode('utf-8'))} bytes; the Data API takes at most 100 KB")
        stripped = sql.strip().rstrip(";").strip()
        if re.match(r"(?i)^COPY\b", stripped):
            return None, [], run_copy(self, stripped, query_id)
        check_alter_type(self.con, stripped, self.in_block)
        try:
            rows = self.con.run(translate(stripped))
        except pg8000.native.DatabaseError as e:
            if _code(e) == "40001":
                raise RedshiftError(f"ERROR: 1023 DETAIL: Serializable isolation violation on a table in the transaction: {_message(e)}")
            raise RedshiftError(f"ERROR: {_message(e)}")
        columns = self.con.columns or []
        if columns:
            return rows or [], columns, len(rows or [])
        return None, [], self.con.row_count


_statements = {}
_tokens = {}
_lock = threading.Lock()
_query_ids = iter(range(1000, 10 ** 12))


def _now():
    return time.time()


class Statement:
    def __init__(self, sqls, batch, fields):
        self.id = str(uuid.uuid4())
        self.sqls, self.batch, self.fields = sqls, batch, fields
        self.status, self.error = "SUBMITTED", None
        self.created = self.updated = _now()
        self.started = None
        self.duration = -1
        self.cancelled = False
        self.session = None
        with _lock:
            self.subs = [dict(Id=f"{self.id}:{i + 1}" if batch else self.id, QueryString=q, Status="SUBMITTED", ResultRows=-1,
                              HasResultSet=False, RedshiftQueryId=next(_query_ids), CreatedAt=self.created, UpdatedAt=self.created,
                              Duration=-1, rows=None, columns=[]) for i, q in enumerate(sqls)]

    @property
    def database(self):
        return self.fields.get("Database") or "dev"

    @property
    def serverless(self):
        return bool(self.fields.get("WorkgroupName"))

    def set(self, status, error=None):
        self.status, self.updated = status, _now()
        if error:
            self.error = error

    def run(self, faults):
        by = {f["action"]: f for f in faults}
        try:
            if "stall" in by:
                time.sleep(by["stall"]["seconds"])
            if self.cancelled:
                return self._abort()
            self.set("PICKED")
            ensure_database(self.database)
            self.session = Session(self.database, self.serverless)
            self.set("STARTED")
            self.started = time.monotonic()
            if "serializable" in by:
                raise RedshiftError(by["serializable"]["message"] or "ERROR: 1023 DETAIL: Serializable isolation violation on table (a fault of the double)")
            if "fail" in by:
                raise RedshiftError(by["fail"]["message"] or "ERROR: a fault of the double")
            if self.batch:
                self.session.con.run("BEGIN ISOLATION LEVEL SERIALIZABLE")
                self.session.in_block = True
            for sub in self.subs:
                if self.cancelled:
                    raise RedshiftError("ERROR: Query cancelled.")
                sub["Status"], sub["UpdatedAt"] = "STARTED", _now()
                t0 = time.monotonic()
                try:
                    rows, columns, count = self.session.execute(sub["QueryString"], sub["RedshiftQueryId"])
                except RedshiftError as e:
                    sub["Status"], sub["Error"] = ("ABORTED" if self.cancelled else "FAILED"), str(e)
                    raise
                except pg8000.native.DatabaseError as e:
                    sub["Status"], sub["Error"] = ("ABORTED" if self.cancelled else "FAILED"), f"ERROR: {_message(e)}"
                    raise RedshiftError(sub["Error"])
                sub.update(Status="FINISHED", UpdatedAt=_now(), Duration=int((time.monotonic() - t0) * 1e9), ResultRows=count,
                           HasResultSet=rows is not None, rows=rows, columns=columns)
            if "hold" in by:
                until = time.monotonic() + by["hold"]["seconds"]
                while time.monotonic() < until and not self.cancelled:
                    time.sleep(0.05)
            if self.cancelled:  # cancelled before COMMIT: rolled back, as on Redshift
                raise RedshiftError("ERROR: Query cancelled.")
            if self.batch:
                try:
                    self.session.con.run("COMMIT")
                except pg8000.native.DatabaseError as e:
                    raise RedshiftError(f"ERROR: 1023 DETAIL: Serializable isolation violation: {_message(e)}" if _code(e) == "40001"
                                        else f"ERROR: {_message(e)}")
            self.duration = int((time.monotonic() - self.started) * 1e9)
            self.set("FINISHED")
        except Exception as e:  # every failure is the statement's FAILED (or ABORTED) status, as on Redshift
            if self.session is not None and self.batch:
                try:
                    self.session.con.run("ROLLBACK")
                except Exception:
                    pass
            for sub in self.subs:
                if sub["Status"] in ("SUBMITTED", "STARTED"):
                    sub["Status"] = "ABORTED"
            if self.cancelled:
                return self._abort()
            self.duration = int((time.monotonic() - (self.started or time.monotonic())) * 1e9)
            self.set("FAILED", str(e) if isinstance(e, RedshiftError) else f"ERROR: {e}")
        finally:
            if self.session is not None:
                self.session.close()

    def _abort(self):
        for sub in self.subs:
            if sub["Status"] != "FINISHED":
                sub["Status"] = "ABORTED"
        self.set("ABORTED", "Query cancelled.")

    def cancel(self):
        if self.status in ("FINISHED", "FAILED", "ABORTED"):
            return False
        self.cancelled = True
        if self.session is not None:
            try:
                admin = connect(self.database)
                admin.run("SELECT pg_cancel_backend(:p)", p=self.session.pid)
                admin.close()
            except Exception:
                pass
        return True

    def describe(self):
        rows = [s["ResultRows"] for s in self.subs if s["ResultRows"] is not None and s["ResultRows"] >= 0]
        d = dict(Id=self.id, Status=self.status, CreatedAt=self.created, UpdatedAt=self.updated, Duration=self.duration,
                 Database=self.database, HasResultSet=any(s["HasResultSet"] for s in self.subs) if not self.batch else False,
                 QueryString=self.sqls[0] if not self.batch else "", ResultRows=sum(rows) if rows else -1,
                 RedshiftPid=self.session.pid if self.session else 0,
                 RedshiftQueryId=self.subs[0]["RedshiftQueryId"] if not self.batch else 0)
        for k in ("ClusterIdentifier", "DbUser", "SecretArn"):
            if self.fields.get(k):
                d[k] = self.fields[k]
        if self.error:
            d["Error"] = self.error
        if self.batch:
            d["SubStatements"] = [{k: v for k, v in s.items() if k not in ("rows", "columns")} for s in self.subs]
        if getattr(self, "name", None):
            d["StatementName"] = self.name
        return d


def _field_value(v):
    if v is None:
        return {"isNull": True}
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"longValue": v}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, datetime.datetime):
        return {"stringValue": v.isoformat(sep=" ")}
    if isinstance(v, decimal.Decimal):
        return {"stringValue": format(v, "f")}
    return {"stringValue": str(v)}


def _fields(resp):
    return {k: resp._get_param(k) for k in ("ClusterIdentifier", "WorkgroupName", "Database", "DbUser", "SecretArn")}


def _submit(resp, sqls, batch):
    if not sqls or (batch and len(sqls) > 40):
        raise JsonRESTError("ValidationException", f"1 validation error detected: Value at 'sqls' failed to satisfy constraint: "
                                                   f"Member must have length less than or equal to 40 (got {len(sqls or [])})")
    for q in sqls:
        if len(q.encode("utf-8")) > STATEMENT_LIMIT:
            raise JsonRESTError("ValidationException", f"a statement is {len(q.encode('utf-8'))} bytes; the limit is 100 KB")
    fields = _fields(resp)
    if not fields.get("Database"):
        raise JsonRESTError("ValidationException", "Database is required")
    if bool(fields.get("ClusterIdentifier")) == bool(fields.get("WorkgroupName")):
        raise JsonRESTError("ValidationException", "give exactly one of ClusterIdentifier and WorkgroupName")
    token, name = resp._get_param("ClientToken"), resp._get_param("StatementName")
    if token is not None and not 1 <= len(token) <= 64:
        raise JsonRESTError("ValidationException", "ClientToken must be 1 to 64 characters")
    if name is not None and len(name) > 2048:
        raise JsonRESTError("ValidationException", "StatementName must be at most 2048 characters")
    database = fields["Database"]
    sql = "\n".join(sqls)
    with _lock:
        if token and (database, token) in _tokens:  # idempotent: the same statement, nothing runs again
            st = _statements[_tokens[(database, token)]]
            return st, None
    faults = take_faults(database, sql)
    if "throttle" in faults:
        raise JsonRESTError("ThrottlingException", faults["throttle"]["message"] or "Rate exceeded (a fault of the double)")
    if "active" in faults:
        raise JsonRESTError("ActiveStatementsExceededException", faults["active"]["message"] or "The number of active statements exceeds the limit.")
    st = Statement(sqls, batch, fields)
    st.name = name
    with _lock:
        _statements[st.id] = st
        if token:
            _tokens[(database, token)] = st.id
    run_faults = [faults[a] for a in ("fail", "serializable", "stall", "hold") if a in faults]
    threading.Thread(target=st.run, args=(run_faults,), daemon=True).start()
    return st, faults.get("slow_submit")


def _answer(st, extra_wait):
    if extra_wait:
        time.sleep(extra_wait["seconds"])
    body = dict(Id=st.id, CreatedAt=st.created, Database=st.database)
    for k in ("ClusterIdentifier", "DbUser", "SecretArn", "WorkgroupName"):
        if st.fields.get(k):
            body[k] = st.fields[k]
    return json.dumps(body)


def _statement(statement_id):
    st = _statements.get(statement_id.split(":")[0])
    if st is None:
        raise JsonRESTError("ResourceNotFoundException", f"Query does not exist: {statement_id}")
    return st


def execute_statement(self):
    st, slow = _submit(self, [self._get_param("Sql")], False)
    return _answer(st, slow)


def batch_execute_statement(self):
    st, slow = _submit(self, self._get_param("Sqls"), True)
    return _answer(st, slow)


def describe_statement(self):
    return json.dumps(_statement(self._get_param("Id")).describe())


def cancel_statement(self):
    return json.dumps({"Status": _statement(self._get_param("Id")).cancel()})


def get_statement_result(self):
    wanted = self._get_param("Id")
    st = _statement(wanted)
    if st.status != "FINISHED":
        raise JsonRESTError("ValidationException", f"Query {wanted} has not finished: {st.status}")
    sub = st.subs[int(wanted.split(":")[1]) - 1] if ":" in wanted else (st.subs[0] if not st.batch else None)
    if sub is None or not sub["HasResultSet"]:
        raise JsonRESTError("ResourceNotFoundException", f"Query does not have result. Please check query status: {wanted}")
    start = int(self._get_param("NextToken") or 0)
    page = sub["rows"][start:start + 500]
    body = dict(Records=[[_field_value(v) for v in row] for row in page], TotalNumRows=len(sub["rows"]),
                ColumnMetadata=[{"name": c.get("name", "")} for c in sub["columns"]])
    if start + 500 < len(sub["rows"]):
        body["NextToken"] = str(start + 500)
    return json.dumps(body)


def list_statements(self):
    prefix, status = self._get_param("StatementName") or "", (self._get_param("Status") or "ALL").upper()
    limit = int(self._get_param("MaxResults") or 100)
    if not 0 <= limit <= 100:
        raise JsonRESTError("ValidationException", "MaxResults must be 0 to 100")
    with _lock:
        found = [s for s in _statements.values() if (s.name or "").startswith(prefix) and (status == "ALL" or s.status == status)]
    found.sort(key=lambda s: s.created, reverse=True)
    start = int(self._get_param("NextToken") or 0)
    page = found[start:start + (limit or 100)]
    body = {"Statements": [dict(Id=s.id, Status=s.status, StatementName=s.name, CreatedAt=s.created, UpdatedAt=s.updated,
                                IsBatchStatement=s.batch, QueryString=s.sqls[0] if not s.batch else "",
                                **({"QueryStrings": s.sqls} if s.batch else {})) for s in page]}
    if start + len(page) < len(found):
        body["NextToken"] = str(start + len(page))
    return json.dumps(body)


def install():
    import moto.redshiftdata.responses as responses
    r = responses.RedshiftDataAPIServiceResponse
    r.execute_statement = execute_statement
    r.batch_execute_statement = batch_execute_statement
    r.describe_statement = describe_statement
    r.cancel_statement = cancel_statement
    r.get_statement_result = get_statement_result
    r.list_statements = list_statements
