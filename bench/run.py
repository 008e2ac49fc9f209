#!/usr/bin/env python3
"""The portal's benchmarks, each figure set against a limit measured in the same run.

    bench/run.py --db sqlite   --requests 1000000
    bench/run.py --db postgres --requests 1000000 [--postgres-url postgres://postgres@127.0.0.1:5432]

It builds the release binary and the bare rust_xlsxwriter baseline, generates the data set with
`portal generate`, serves it, and measures:

  1. list pages with wrk (32 connections): the applicant inbox, the company inbox with two
     filters, the SEC panel sorted by folio; against GET /healthz measured the same way;
  2. a submission with three 5 MB files, sent from memory over a kept-alive connection:
     throughput against dd writing the same bytes with conv=fdatasync to a new file on the same
     disk (median of five each); the server's memory growth with 20 submissions in flight (on a
     freshly restarted portal);
  3. the Sábana in XLSX and CSV (every row, in the yearly periods the export allows): time and
     the server's peak memory; XLSX against the bare writer writing the rows of the CSV export;
  4. time to first byte of the SEC charts and compliance pages;
  5. cold start (migrations already applied) and idle memory.

Raw figures and ratios go to stdout and to bench/results/<db>-<requests>.json. `--quick` uses
short wrk runs (CI runs this at a tiny size only to check that the harness works; no figure is
judged there). `--steps` runs some of the steps only (while working on one of them; the
results file then lacks the others, and report.py needs them all). Needs wrk (Debian package
wrk) and, for PostgreSQL, psql.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import http.client
import http.cookiejar
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the project, as cargo reads it).
TARGET = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
BIN = TARGET / "release" / "portal"
BARE = TARGET / "release" / "examples" / "bare_xlsx"
PASSWORD = "sol de tarde en la pampa"
APPLICANT, COMPANY, REGULATOR = "11.111.111-1", "22.222.222-2", "33.333.333-3"
FILE_SIZE = 5_000_000
STEPS = ["list", "charts", "submission", "sabana", "start"]


def log(message):
    print(message, file=sys.stderr, flush=True)


def build():
    log("== Building the release binary and the bare writer")
    subprocess.run(
        ["cargo", "build", "--release", "--bin", "portal", "--example", "bare_xlsx"],
        cwd=ROOT,
        check=True,
    )


def rss_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class Portal:
    """`portal serve` on a free port, with the data directory and database of the run."""

    def __init__(self, env, port):
        self.env, self.port = env, port
        self.base = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(BIN), "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while True:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - started
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the portal did not start")
                time.sleep(0.002)

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()
            self.process = None

    def rss(self):
        return rss_kib(self.process.pid)

    def peak(self):
        return rss_kib(self.process.pid, "VmHWM")

    def reset_peak(self):
        """Starts the peak (VmHWM) again from the current RSS, so that a step's peak is its own
        and not one left by an earlier step (Linux: "5" in /proc/PID/clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")


class Session:
    """A logged-in browser: cookies, and the CSRF token the forms carry."""

    def __init__(self, base, profile, rut):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )
        self.opener.open(base + "/ingreso").read()
        fields = {"csrf": self.csrf(), "perfil": profile, "rut": rut, "password": PASSWORD}
        body = urllib.parse.urlencode(fields).encode()
        try:
            self.opener.open(base + "/ingreso", body)
        except urllib.error.HTTPError as answer:
            if answer.code != 303:
                raise RuntimeError(f"login of {rut} failed: {answer.code}")

    def csrf(self):
        return next(c.value for c in self.jar if c.name == "portal_csrf")

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wrk(url, cookie, seconds, connections=32):
    """Requests per second and the p50 and p99 latency in milliseconds."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} error responses\n{output}")

    def percentile(label):
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def curl_time(url, cookie, field="time_total", out="/dev/null"):
    output = subprocess.run(
        ["curl", "-sS", "-o", out, "-w", f"%{{http_code}} %{{{field}}}", "-H", f"Cookie: {cookie}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    code, seconds = output.split()
    if code != "200":
        raise RuntimeError(f"{url}: HTTP {code}")
    return float(seconds)


def list_pages(portal, sessions, seconds):
    log("== 1. List pages against /healthz and a static file (wrk, 32 connections)")
    pages = {
        "healthz": (portal.base + "/healthz", None),
        "static_file": (portal.base + "/static/portal.css", None),
        "applicant_inbox": (portal.base + "/solicitudes", sessions["applicant"].cookie_header()),
        "company_inbox_two_filters": (
            portal.base + "/distribuidora?tipo=SI&estado=pending_answer",
            sessions["distributor"].cookie_header(),
        ),
        "sec_panel_sorted_by_folio": (
            portal.base + "/sec?orden=folio&dir=asc",
            sessions["regulator"].cookie_header(),
        ),
    }
    figures = {name: wrk(url, cookie, seconds) for name, (url, cookie) in pages.items()}
    base, static = figures["healthz"]["rps"], figures["static_file"]["rps"]
    for name, figure in figures.items():
        figure["ratio_to_healthz"] = figure["rps"] / base
        figure["ratio_to_static"] = figure["rps"] / static
        log(f"   {name:28} {figure['rps']:10.0f} req/s  p50 {figure['p50_ms']:.2f} ms  "
            f"p99 {figure['p99_ms']:.2f} ms  ratio {figure['ratio_to_healthz']:.3f}")
    return figures


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for slot, path in files:
        parts.append(
            (f'--{boundary}\r\nContent-Disposition: form-data; name="{slot}"; '
             f'filename="{slot}.pdf"\r\nContent-Type: application/pdf\r\n\r\n').encode()
        )
        parts.append(Path(path).read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(parts)


def company_place(env):
    """The id of the company EN and a comuna of it, as the form offers them."""
    return env["BENCH_DISTRIBUTOR_ID"], "13", "13101"


def submission(portal, session, env, work, restart):
    log("== 2. A submission with three 5 MB files against dd")
    files = []
    for slot in ["form", "power_of_attorney", "id_copy"]:
        path = work / f"{slot}.pdf"
        with open(path, "wb") as out:
            out.write(b"%PDF-1.4\n")
            out.write(os.urandom(FILE_SIZE - 9))
        files.append((slot, path))
    distributor, region, comuna = company_place(env)

    def body():
        fields = {
            "token": uuid.uuid4().hex,
            "distributor_id": distributor,
            "region": region,
            "comuna": comuna,
            "client_number": "123456-7",
        }
        return multipart(fields, files)

    path = f"/solicitudes/nueva/si?csrf={session.csrf()}"
    url = portal.base + path
    # The timed submissions are sent from memory over one kept-alive connection, as a browser
    # sends a form: the time is the server's, not that of starting curl and reading the body
    # from a file.
    connection = http.client.HTTPConnection("127.0.0.1", portal.port, timeout=60)

    def submit():
        boundary, data = body()
        started = time.perf_counter()
        connection.request("POST", path, body=data, headers={
            "Cookie": session.cookie_header(),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        })
        answer = connection.getresponse()
        answer.read()
        elapsed = time.perf_counter() - started
        if answer.status != 303:
            raise RuntimeError(f"submission answered {answer.status}")
        return elapsed

    submit()  # warm-up
    times = [submit() for _ in range(5)]
    connection.close()
    total_bytes = 3 * FILE_SIZE
    submit_mb_s = total_bytes / statistics.median(times) / 1e6
    dd_mb_s, dd_rewrite_mb_s = dd(Path(env["PORTAL_DATA_DIR"]), total_bytes)

    log("   20 submissions in flight")
    bodies = []
    for _ in range(20):
        boundary, data = body()
        path = work / f"inflight-{uuid.uuid4().hex}"
        path.write_bytes(data)
        bodies.append((boundary, path))
    # What the earlier steps left in the allocator (wrk's 32 connections, the timed
    # submissions) would hide part of the growth: the 20 start on a freshly started portal.
    rss_after_timed = portal.rss()
    restart()
    portal.reset_peak()
    before = portal.rss()
    running = [
        subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Cookie: {session.cookie_header()}",
             "-H", f"Content-Type: multipart/form-data; boundary={boundary}",
             "--data-binary", f"@{path}", url],
            stdout=subprocess.PIPE, text=True,
        )
        for boundary, path in bodies
    ]
    codes = [p.communicate()[0] for p in running]
    peak = portal.peak()
    for _, path in bodies:
        path.unlink()
    if any(code != "303" for code in codes):
        raise RuntimeError(f"submissions in flight answered {codes}")
    figures = {
        "submission_seconds_median": statistics.median(times),
        "submission_mb_s": submit_mb_s,
        "dd_fdatasync_mb_s": dd_mb_s,
        "dd_rewrite_mb_s": dd_rewrite_mb_s,
        "ratio_to_dd": submit_mb_s / dd_mb_s,
        "rss_after_timed_submissions_kib": rss_after_timed,
        "rss_before_kib": before,
        "peak_with_20_in_flight_kib": peak,
        "growth_mib": (peak - before) / 1024,
    }
    log(f"   submission {submit_mb_s:.1f} MB/s, dd {dd_mb_s:.1f} MB/s, ratio {figures['ratio_to_dd']:.2f}; "
        f"memory growth with 20 in flight {figures['growth_mib']:.1f} MiB")
    return figures


def dd(directory, total_bytes, runs=5):
    """What the disk takes: dd writing the same bytes with conv=fdatasync, the median of `runs`.

    Each run writes a new file that stays until all have run, as a submission's files stay: on a
    virtual machine the first write into memory the page cache never used is several times
    slower than a write into pages a deleted file just freed (seen here: 18-57 ms against 10 ms
    for 15 MB), and the portal's files always take new pages. The figure for a file written
    where a deleted one was is kept beside it, for reference."""
    megabytes = total_bytes // 1_000_000
    scratch = directory / "dd-runs"
    scratch.mkdir()

    def run(name):
        started = time.perf_counter()
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={scratch / name}", "bs=1M", f"count={megabytes}",
             "conv=fdatasync"],
            capture_output=True, check=True,
        )
        return megabytes * 1_048_576 / (time.perf_counter() - started) / 1e6

    new_files = statistics.median(run(f"new-{i}") for i in range(runs))
    rewrites = []
    for _ in range(runs):
        rewrites.append(run("again"))
        (scratch / "again").unlink()
    shutil.rmtree(scratch)
    return new_files, statistics.median(rewrites)


def periods():
    """The Sábana exports at most 366 days at a time: four yearly periods cover the three years
    of generated requests."""
    import datetime
    today = datetime.date.today()
    spans = []
    for year in range(4):
        to = today - datetime.timedelta(days=366 * year)
        spans.append((to - datetime.timedelta(days=365), to))
    return spans


def sabana(portal, restart, work):
    log("== 3. The Sábana: XLSX and CSV, all rows, one yearly period after another")
    figures = {}
    rows = 0
    exported = []
    for kind in ["csv", "xlsx"]:
        restart()
        session = Session(portal.base, "regulator", REGULATOR)
        before = portal.rss()
        seconds, size = 0.0, 0
        for n, (start, end) in enumerate(periods()):
            out = work / f"sabana-{n}.{kind}"
            url = f"{portal.base}/sec/sabana.{kind}?desde={start}&hasta={end}"
            seconds += curl_time(url, session.cookie_header(), out=str(out))
            size += out.stat().st_size
            if kind == "csv":
                import csv
                with open(out, newline="", encoding="utf-8-sig") as text:
                    rows += sum(1 for _ in csv.reader(text)) - 1
                exported.append(out)
            else:
                out.unlink()
        figures[kind] = {
            "seconds": seconds,
            "bytes": size,
            "server_peak_mib": portal.peak() / 1024,
            "server_growth_mib": (portal.peak() - before) / 1024,
        }
    figures["rows"] = rows
    figures["csv"]["rows_per_second"] = rows / figures["csv"]["seconds"]
    # The baseline writes the very rows the portal exported (the CSV file of each period), one
    # workbook per period as the portal does; it reads them into memory first and times only
    # the writing.
    measured = subprocess.run([str(BARE), str(work), *map(str, exported)],
                              capture_output=True, text=True, check=True)
    bare_seconds = float(measured.stdout.split()[-1])
    for path in [*exported, *work.glob("bare-*.xlsx")]:
        path.unlink()
    figures["bare_xlsx"] = {"seconds": bare_seconds}
    figures["xlsx"]["ratio_to_bare"] = figures["xlsx"]["seconds"] / bare_seconds
    log(f"   {rows} rows. CSV {figures['csv']['seconds']:.2f} s ({figures['csv']['rows_per_second']:.0f} rows/s); "
        f"XLSX {figures['xlsx']['seconds']:.2f} s, server peak {figures['xlsx']['server_peak_mib']:.0f} MiB; "
        f"bare writer {bare_seconds:.2f} s; ratio {figures['xlsx']['ratio_to_bare']:.2f}")
    return figures


def first_byte(portal, session):
    log("== 4. Charts and compliance: time to first byte")
    figures = {}
    for name, path in [("charts", "/sec/graficos"), ("compliance", "/sec/cumplimiento")]:
        url = portal.base + path
        curl_time(url, session.cookie_header(), "time_starttransfer")
        samples = [curl_time(url, session.cookie_header(), "time_starttransfer") * 1000 for _ in range(5)]
        figures[name] = {"ttfb_ms_median": statistics.median(samples), "samples_ms": samples}
        log(f"   {name}: {figures[name]['ttfb_ms_median']:.1f} ms")
    return figures


def cold_start(portal):
    log("== 5. Cold start and idle memory")
    times = []
    for _ in range(5):
        portal.stop()
        times.append(portal.start() * 1000)
    idle = portal.rss()
    figures = {"cold_start_ms_median": statistics.median(times), "samples_ms": times,
               "idle_rss_mib": idle / 1024}
    log(f"   start {figures['cold_start_ms_median']:.0f} ms, idle {figures['idle_rss_mib']:.1f} MiB")
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness, not the figures")
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated, of {', '.join(STEPS)} (default: all)")
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    if not steps <= set(STEPS):
        sys.exit(f"--steps takes {', '.join(STEPS)}")
    if not shutil.which("wrk"):
        sys.exit("wrk is missing (apt-get install wrk)")
    if not args.no_build:
        build()
    work = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({"PORTAL_DATA_DIR": str(work / "data"), "PORTAL_CAPTCHA": "off", "RUST_LOG": "warn"})
    database = None
    if args.db == "postgres":
        database = f"portal_bench_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f'CREATE DATABASE "{database}"'], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    port = 18000 + os.getpid() % 1000
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    results = {"db": args.db, "requests": args.requests, "date": time.strftime("%Y-%m-%d %H:%M"),
               "machine": machine()}
    portal = Portal(env, port)
    try:
        log(f"== Generating {args.requests} requests on {args.db}")
        started = time.perf_counter()
        subprocess.run([str(BIN), "generate", "--requests", str(args.requests)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        results["generate"] = {"seconds": seconds, "requests_per_second": args.requests / seconds}
        log(f"   {seconds:.1f} s, {args.requests / seconds:.0f} requests/s (whole command)")
        env["BENCH_DISTRIBUTOR_ID"] = distributor_id(env)
        portal.start()

        def restart():
            portal.stop()
            portal.start()

        sessions = {
            "applicant": Session(portal.base, "applicant", APPLICANT),
            "distributor": Session(portal.base, "distributor", COMPANY),
            "regulator": Session(portal.base, "regulator", REGULATOR),
        }
        if "list" in steps:
            results["list_pages"] = list_pages(portal, sessions, 3 if args.quick else 15)
        results["rss_after_list_pages_mib"] = portal.rss() / 1024
        if "charts" in steps:
            results["charts"] = first_byte(portal, sessions["regulator"])
        if "submission" in steps:
            results["submission"] = submission(portal, sessions["applicant"], env, work, restart)
        if "sabana" in steps:
            results["sabana"] = sabana(portal, restart, work)
        if "start" in steps:
            results["start"] = cold_start(portal)
    finally:
        portal.stop()
        shutil.rmtree(work, ignore_errors=True)
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc",
                            f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], check=False)
    out = ROOT / "bench" / "results" / f"{args.db}-{args.requests}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"== Figures written to {out.relative_to(ROOT)}")


def distributor_id(env):
    """The id of the company with folio prefix EN, read through the portal's own database."""
    url = env.get("PORTAL_DATABASE_URL")
    query = "SELECT id FROM distributors WHERE folio_prefix = 'EN'"
    if url:
        return subprocess.run(["psql", url, "-tAc", query], capture_output=True, text=True,
                              check=True).stdout.strip()
    import sqlite3
    with sqlite3.connect(Path(env["PORTAL_DATA_DIR"]) / "portal.db") as db:
        return db.execute(query).fetchone()[0]


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(int(memory) / 1048576, 1),
            "kernel": os.uname().release}


if __name__ == "__main__":
    main()
