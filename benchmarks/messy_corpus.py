#!/usr/bin/env python3
"""A "messy" detection corpus of our own (issue 12's failure categories), written with its truth.

Every file is made here from a seed, so the set is the same on every run and nothing is copied from public
sniffing corpora (those stay the held-out measure). Writes the files and an expected.jsonl in the format of
Tests/AutoloaderDetectionTests/Fixtures/corpus, each entry with a "category", into the folder given.
Usage: benchmarks/messy_corpus.py OUT_DIR
"""
import json, os, random, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = random.Random(12)
entries = []

WORDS = ["alpha", "bravo", "Charlie Brown", "delta", "echo park", "Foxtrot", "golf", "hotel", "India", "juliet"]
CITIES = ["München", "Zürich", "Kraków", "Malmö", "São Paulo", "Reykjavík", "Genève", "Ålesund"]


def write(name, category, text=None, data=None, *, delimiter=",", quote='"', quote_observed=False, escape=None,
          header=True, skip=0, columns, encoding="utf-8"):
    """columns: [(name, type)]; type None means: not scored (only the count is)."""
    body = data if data is not None else text.encode("utf-8")
    with open(os.path.join(out, name), "wb") as f:
        f.write(body)
    entries.append({"file": name, "category": category, "format": "csv", "encoding": encoding, "delimiter": delimiter,
                    "quote": quote, "quote_observed": quote_observed, "escape": escape, "header": header,
                    "skip_lines": skip, "columns": [{"name": n, "type": t} for n, t in columns]})


def rows(n, make):
    return "".join(make(i) + "\n" for i in range(1, n + 1))


# Single-column files: a character inside the values must not split them.
for k in range(4):
    write(f"single_times_{k}.csv", "single_column", "departure\n" + rows(20 + k, lambda i: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"),
          columns=[("departure", "time")])
for k in range(3):
    write(f"single_urls_{k}.csv", "single_column", "link\n" + rows(15, lambda i: f"https://example.org/{rng.choice(WORDS).replace(' ', '-')}/{i}"),
          columns=[("link", "varchar")])
for k in range(3):
    formats = ["##0.00", "0.0#", "#", "###", "0%", "##0", "#.###"]
    write(f"single_formats_{k}.csv", "single_column", "format\n" + rows(12, lambda i: rng.choice(formats)), columns=[("format", "varchar")])

# ':' inside values next to real delimiters.
for k, (d, name) in enumerate([(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]):
    text = d.join(["id", "start", "end", "room"]) + "\n" + rows(25, lambda i: d.join([str(i), f"{8 + i % 9:02d}:{i % 60:02d}", f"{9 + i % 9:02d}:{(i * 7) % 60:02d}", f"R{i % 5}"]))
    write(f"colon_times_{name}.csv", "colon", text, delimiter=d, columns=[("id", "smallint"), ("start", "time"), ("end", "time"), ("room", "varchar")])
for k in range(3):
    text = "id,site,checked\n" + rows(20, lambda i: f"{i},https://{rng.choice(WORDS).split()[0].lower()}.example.com/p{i},{2020 + i % 4}-0{1 + i % 9}-1{i % 10}")
    write(f"colon_urls_{k}.csv", "colon", text, columns=[("id", "smallint"), ("site", "varchar"), ("checked", "date")])
for k in range(2):
    text = "id, start, label\n" + rows(20, lambda i: f"{i}, {8 + i % 9:02d}:{i % 60:02d}, {rng.choice(WORDS)}")
    write(f"colon_comma_space_{k}.csv", "colon", text, columns=[("id", "smallint"), ("start", None), ("label", None)])

# Encodings.
for k in range(3):
    lines = ["id,quote,price"] + [f"{i},“{rng.choice(WORDS)}” – it’s fine,{i * 3}€" for i in range(1, 16)]
    write(f"enc_cp1252_{k}.csv", "encoding", data="\n".join(lines).encode("cp1252") + b"\n", encoding="windows-1252",
          columns=[("id", "smallint"), ("quote", "varchar"), ("price", "varchar")])
for k in range(2):
    lines = ["id,city"] + [f"{i},{rng.choice(CITIES)}" for i in range(1, 16)]
    write(f"enc_latin1_{k}.csv", "encoding", data="\n".join(lines).encode("latin-1", errors="replace") + b"\n", encoding="latin-1",
          columns=[("id", "smallint"), ("city", "varchar")])
for k in range(2):
    head = "id,city\n" + "".join(f"{i},{rng.choice(CITIES)}\n" for i in range(1, 10))
    data = head.encode("utf-8") + b"10,M\xfcnster\n11,caf\xe9\n"
    write(f"enc_mixed_{k}.csv", "encoding", data=data, encoding="utf-8+windows-1252", columns=[("id", "smallint"), ("city", "varchar")])
for k, (codec, name) in enumerate([("utf-16-le", "utf-16le"), ("utf-16-be", "utf-16be")]):
    text = "id,name,amount\n" + rows(12, lambda i: f"{i},{rng.choice(WORDS)},{i * 1.5:.2f}")
    write(f"enc_{name}_nobom.csv", "encoding", data=text.encode(codec), encoding=name,
          columns=[("id", "smallint"), ("name", "varchar"), ("amount", "decimal")])

JAPANESE = ["やまだ たろう", "すずき はなこ", "さとう けん", "たなか ゆき"]
CHINESE = ["张伟", "王芳", "李娜", "刘洋"]
for k, (codec, name, people) in enumerate([("cp932", "shift_jis", JAPANESE), ("gb18030", "gb18030", CHINESE)]):
    text = "id,name,city\n" + rows(12, lambda i: f"{i},{rng.choice(people)},{['東京', '大阪', '北京', '上海'][i % 4]}")
    write(f"enc_{name}.csv", "encoding", data=text.encode(codec), encoding=name,
          columns=[("id", "smallint"), ("name", "varchar"), ("city", "varchar")])

# Header and title lines.
for k in range(3):
    pad = ",,,"
    text = f"Meetings{pad}\nBoard of Works {2020 + k}{pad}\nid,date,room,topic\n" + rows(12, lambda i: f"{i},2024-0{1 + i % 9}-1{i % 10},R{i % 4},{rng.choice(WORDS)}")
    write(f"title_padded_{k}.csv", "header", text, skip=2, columns=[("id", "smallint"), ("date", "date"), ("room", "varchar"), ("topic", "varchar")])
for k in range(3):
    text = f"Monthly report {k}\nid,name,score\n" + rows(15, lambda i: f"{i},{rng.choice(WORDS)},{rng.randint(1, 99)}")
    write(f"title_plain_{k}.csv", "header", text, skip=1, columns=[("id", "smallint"), ("name", "varchar"), ("score", "smallint")])
for k in range(3):
    text = f"{k + 4},Di,1.25,2024-04-0{k + 1}\n{k + 5},Ed,2,2024-05-0{k + 1}\n"
    write(f"two_line_data_{k}.csv", "header", text, header=False,
          columns=[("column1", "smallint"), ("column2", "varchar"), ("column3", "decimal"), ("column4", "date")])

for k in range(2):
    extra = ["", "note"][k]
    text = f"id,name,score,{extra}\n" + rows(12, lambda i: f"{i},{rng.choice(WORDS)},{rng.randint(1, 99)}")
    write(f"header_extra_field_{k}.csv", "header", text, columns=[("id", "smallint"), ("name", "varchar"), ("score", "smallint")])

# '#' comment lines before the data.
for k in range(4):
    text = f"# exported by tool {k}\n# generated 2024-05-0{k + 1}\nid,name,value\n" + rows(12, lambda i: f"{i},{rng.choice(WORDS)},{i * 2}")
    write(f"comments_{k}.csv", "comments", text, skip=2, columns=[("id", "smallint"), ("name", "varchar"), ("value", "smallint")])

# Quotes: single quotes around fields holding the delimiter; pipes inside cells of a comma file.
for k in range(3):
    text = "id,name,note\n" + rows(12, lambda i: f"{i},'{rng.choice(WORDS)}, {rng.choice(WORDS)}','n{i}'")
    write(f"quote_single_{k}.csv", "quotes", text, quote="'", quote_observed=True,
          columns=[("id", "smallint"), ("name", "varchar"), ("note", "varchar")])
for k in range(3):
    text = "id,path,size\n" + rows(14, lambda i: f"{i},a|b|{rng.choice(WORDS).split()[0]},{i * 10}" if i % 3 == 0 else f"{i},{rng.choice(WORDS)},{i * 10}")
    write(f"pipes_in_cells_{k}.csv", "quotes", text, columns=[("id", "smallint"), ("path", "varchar"), ("size", "smallint")])

# Backslash escapes: inside double quotes (`\"`), and outside quotes before a delimiter (MySQL's ESCAPED BY).
for k in range(2):
    text = "id,text,n\n" + rows(10, lambda i: f'{i},"say \\"{rng.choice(WORDS)}\\", ok",{i * 3}' if i % 3 == 0 else f"{i},{rng.choice(WORDS)},{i * 3}")
    write(f"escape_backslash_quoted_{k}.csv", "escapes", text, escape="\\", quote_observed=True,
          columns=[("id", "smallint"), ("text", "varchar"), ("n", "smallint")])
for k in range(2):
    text = "id\ttext\tn\n" + rows(10, lambda i: f"{i}\t{rng.choice(WORDS)}\\\t{rng.choice(WORDS)}\t{i}" if i % 2 else f"{i}\t{rng.choice(WORDS)}\t{i}")
    write(f"escape_backslash_tab_{k}.tsv", "escapes", text, delimiter="\t", escape="\\",
          columns=[("id", "smallint"), ("text", "varchar"), ("n", "smallint")])

# Human null spellings and booleans.
for k in range(4):
    spell = ["?", "-", "NR", "  "][k]
    text = "id,score,active\n" + rows(16, lambda i: f"{i},{spell if i % 4 == 0 else rng.randint(1, 90)},{'Yes' if i % 2 else 'No'}")
    write(f"types_nulls_{k}.csv", "types", text, columns=[("id", "smallint"), ("score", "smallint"), ("active", "boolean")])
for k in range(2):
    text = "id,flag\n" + rows(10, lambda i: f"{i},y")
    write(f"types_lone_letter_{k}.csv", "types", text, columns=[("id", "smallint"), ("flag", "varchar")])

# More of the same shapes with other sizes, so that no category rests on a handful of files.
for k in range(3):
    text = "when;what\n" + rows(18, lambda i: f"{i % 24:02d}:{(i * 13) % 60:02d};{rng.choice(WORDS)}")
    write(f"colon_times_semicolon_two_{k}.csv", "colon", text, delimiter=";", columns=[("when", "time"), ("what", "varchar")])
for k in range(2):
    text = f"Quarterly figures {k},,\nregion,q1,q2\n" + rows(10, lambda i: f"{rng.choice(WORDS)},{rng.randint(1, 900)},{rng.randint(1, 900)}")
    write(f"title_padded_three_{k}.csv", "header", text, skip=1, columns=[("region", "varchar"), ("q1", "smallint"), ("q2", "smallint")])
for k in range(2):
    text = f"#!comment {k}\n# another\n# and a third\nname|count\n" + rows(10, lambda i: f"{rng.choice(WORDS)}|{i}")
    write(f"comments_pipe_{k}.csv", "comments", text, delimiter="|", skip=3, columns=[("name", "varchar"), ("count", "smallint")])

with open(os.path.join(out, "expected.jsonl"), "w") as f:
    for e in entries:
        f.write(json.dumps(e, ensure_ascii=False) + "\n")
print(f"{len(entries)} files in {out}")
