"""Drops files one at a time with the AWS CLI and times how long until their rows are queryable."""
import os, random, sqlite3, subprocess, sys, tempfile, time, uuid

binary, endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


def aws(*args):
    subprocess.run(["aws", "--endpoint-url", endpoint, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rows_of(db, key):
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT count(*) FROM orders WHERE _source_file = ?", (key,)).fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def measure(mode):
    work = tempfile.mkdtemp(prefix="autoloader-latency-")
    bucket, queue = f"lat-{uuid.uuid4().hex[:10]}", f"lat-{uuid.uuid4().hex[:10]}"
    source = f"s3://{bucket}/in/"
    aws("s3", "mb", f"s3://{bucket}")
    args = [binary, "run", "--source", source, "--endpoint", endpoint, "--warehouse", f"sqlite:{work}/w.sqlite"]
    if mode == "events":
        subprocess.run([binary, "setup-events", "--source", source, "--queue", queue, "--endpoint", endpoint], check=True, stdout=subprocess.DEVNULL)
        args += ["--queue", queue]
    log = open(f"{work}/run.log", "w")
    service = subprocess.Popen(args, stdout=log, stderr=log)
    time.sleep(2)
    latencies, from_start = [], []
    try:
        for i in range(count):
            local = f"{work}/f{i}.csv"
            with open(local, "w") as f:
                f.write("id,item,amount\n" + "".join(f"{i * 100 + r},item {r},{r}.5\n" for r in range(10)))
            key = f"orders/{uuid.uuid4().hex}.csv"  # random names: in order or not, as users name files
            started = time.monotonic()
            aws("s3", "cp", local, source + key)
            t0 = time.monotonic()
            while rows_of(f"{work}/w.sqlite", key) != 10:
                if time.monotonic() - t0 > 60:
                    raise SystemExit(f"{mode}: {key} not loaded after 60 s; see {work}/run.log")
                time.sleep(0.01)
            done = time.monotonic()
            latencies.append(done - t0)
            from_start.append(done - started)
            time.sleep(random.uniform(0.2, 1.0))
    finally:
        service.terminate()
        service.wait()
    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]
    print(f"{mode:>8}: {count} files; from `aws s3 cp` returning: p50 {pct(latencies, .5):.2f}s p95 {pct(latencies, .95):.2f}s max {max(latencies):.2f}s;"
          f" from `aws s3 cp` starting (includes the CLI's own ~0.5 s): p50 {pct(from_start, .5):.2f}s p95 {pct(from_start, .95):.2f}s")
    return pct(from_start, .5)


events = measure("events")
listing = measure("listing")
print(f"goal p50 < 2 s with events: {'met' if events < 2 else 'NOT met'} ({events:.2f}s from the start of the upload);"
      f" listing only: p50 {listing:.2f}s (default --reconcile 5)")
