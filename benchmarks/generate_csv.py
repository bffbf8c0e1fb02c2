#!/usr/bin/env python3
"""Writes a deterministic mixed-type CSV for the load benchmarks: ROWS rows, ~100 bytes each."""
import random, sys, datetime

rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
out = sys.argv[1]
rnd = random.Random(42)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima"]
cities = ["Berlin", "São Paulo", "Zürich", "New York", "Tokyo", "Lagos", "Kraków", "Montréal"]
base = datetime.datetime(2024, 1, 1)
with open(out, "w", encoding="utf-8", newline="") as f:
    f.write("id,customer,city,amount,qty,active,order_date,created_at,ratio,note\n")
    lines = []
    for i in range(1, rows + 1):
        t = base + datetime.timedelta(seconds=rnd.randrange(0, 365 * 86400))
        note = " ".join(rnd.choice(words) for _ in range(rnd.randrange(1, 4)))
        if i % 97 == 0:
            note = f'"{note}, with ""quotes"""'
        lines.append(f"{i},{rnd.choice(words)}_{rnd.randrange(10000)},{rnd.choice(cities)},{rnd.randrange(100, 10_000_000) / 100:.2f},"
                     f"{rnd.randrange(1, 500)},{rnd.choice(['true', 'false'])},{t:%Y-%m-%d},{t:%Y-%m-%d %H:%M:%S},"
                     f"{rnd.random():.9f},{note}\n")
        if len(lines) == 10000:
            f.write("".join(lines)); lines = []
    f.write("".join(lines))
