"""HTTP latency and throughput of `spotifier serve`: 25-seed requests at concurrency 1, 8 and 32.

The server runs in a subprocess on 127.0.0.1 (exactly `spotifier --home H serve --model M ...`);
this process drives a closed-loop load (`concurrency` connections, each sending its next request
as soon as the last answer is read; a fixed number of requests per level, cut short by a time
cap) and prints p50/p95/p99 latency, throughput, and the CPU time per request of the client and
of the server processes. Appends a section to bench/RESULTS.md.

Two clients send the same pre-encoded request bodies over keep-alive HTTP/1.1 connections:
`lean` (asyncio streams, a few lines of HTTP) and `httpx` (AsyncClient), so the report shows how
much of the latency is the client's own CPU (client and server share the machine's cores).
`--before REV` also runs the serving code of an older git revision (`spotifier/serve/` and
`cli/service.py` of REV, everything else as now) in the same run, for a before/after comparison;
with `--before-scope all`, all of REV's `src/` (its models too).

    python bench/serve_bench.py                              # a 5,000-playlist world, built here
    python bench/serve_bench.py --playlists 100000           # the issue's world (takes a while)
    python bench/serve_bench.py --home ~/spotifier-home --models item-knn als hybrid
    python bench/serve_bench.py --home /tmp/w --playlists 3000   # builds /tmp/w once, then reuses
    python bench/serve_bench.py --home H --workers 1 --before HEAD~3 --clients lean
    python bench/serve_bench.py --home H --models item-knn hybrid --before REV --before-scope all
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
import orjson

RESULTS = Path(__file__).with_name("RESULTS.md")
REPO = Path(__file__).resolve().parent.parent
SPOTIFIER = [sys.executable, "-m", "spotifier"]
QUIET_FILE = Path("/tmp/spotifier-quiet")
PATH = "/v1/continuations"


def run(args: list[str]) -> None:
    print("$", shlex.join(["spotifier", *args[len(SPOTIFIER) :]]), flush=True)
    subprocess.run(args, check=True)


def build_home(root: Path, playlists: int, models: list[str]) -> Path:
    """Generate, ingest and train with the CLI, as a user would."""
    home = root / "home"
    from spotifier.synth import generate

    print(f"generating {playlists} playlists (spotifier.synth.generate, seed 0)", flush=True)
    generate(root / "world", playlists, 0)
    run([*SPOTIFIER, "--home", str(home), "-q", "ingest", str(root / "world" / "data")])
    for name in [*models, "title"]:
        run([*SPOTIFIER, "--home", str(home), "-q", "train", name])
    return home


def request_bodies(home: Path, n_seeds: int, count: int, k: int) -> list[dict]:
    """`count` requests, each the first `n_seeds` tracks of a real playlist of the store."""
    return _bodies_and_size(home, n_seeds, count, k)[0]


def _bodies_and_size(home: Path, n_seeds: int, count: int, k: int) -> tuple[list[dict], str]:
    from spotifier import store
    from spotifier.home import Home

    h = Home.resolve(home)
    inter = store.load_interactions(h)
    catalog = store.load_catalog(h)
    rows = np.flatnonzero(inter.lengths() >= n_seeds + 1)
    rng = np.random.default_rng(0)
    chosen = rng.choice(rows, size=min(count, len(rows)), replace=False)
    bodies = []
    for row in chosen.tolist():
        seeds = inter.playlist(row)[:n_seeds]
        bodies.append(
            {"name": str(inter.titles[row]), "tracks": catalog.track_uris[seeds].tolist(), "k": k}
        )
    return bodies, f"{inter.n_playlists:,} playlists, {catalog.n_tracks:,} tracks"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


class Server:
    def __init__(
        self,
        home: Path,
        models: list[str],
        port: int,
        workers: int = 1,
        src: Path | None = None,
        label: str = "now",
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        args = [*SPOTIFIER, "--home", str(home), "-q", "serve", "--port", str(port)]
        args += extra_args or []
        if workers > 1:
            args += ["--workers", str(workers)]
        for name in models:
            args += ["--model", name]
        self.label = label
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.command = shlex.join(["spotifier", *args[len(SPOTIFIER) :]])
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
            self.command = f"PYTHONPATH={src} {self.command}"
        for key, value in (extra_env or {}).items():
            env[key] = value
            self.command = f"{key}={shlex.quote(value)} {self.command}"
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )

    def wait(self, timeout: float = 900) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise SystemExit(f"the server exited: {err}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("the server did not start in time")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------------- clients
Post = Callable[[bytes], Awaitable[tuple[int, bytes]]]


class LeanConnection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this API."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {PATH} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = None
        close = False
        for line in raw.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            key = key.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise RuntimeError("the lean client needs a Content-Length in every answer")
        data = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def drive(
    url: str,
    bodies: list[bytes],
    client: str,
    concurrency: int,
    total: int,
    cap_s: float,
    check_k: int | None = None,
) -> dict:
    """`total` requests with `concurrency` in flight (stops early after `cap_s` seconds)."""
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    next_i = 0
    host, port = url.rsplit("//", 1)[1].split(":")
    http = None
    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        http = httpx.AsyncClient(base_url=url, limits=limits, timeout=60)
    deadline = time.perf_counter() + cap_s

    async def worker() -> None:
        nonlocal next_i, errors
        lean = LeanConnection(host, int(port)) if http is None else None
        while next_i < total and time.perf_counter() < deadline:
            body = bodies[next_i % len(bodies)]
            next_i += 1
            t0 = time.perf_counter()
            try:
                if lean is not None:
                    status, data = await lean.post(body)
                else:
                    assert http is not None
                    response = await http.post(
                        PATH, content=body, headers={"content-type": "application/json"}
                    )
                    status, data = response.status_code, response.content
                kind = "" if status == 200 else f"HTTP {status}"
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
                kind = type(exc).__name__
                data = b""
                if lean is not None:
                    await lean.close()
            latencies.append(time.perf_counter() - t0)
            if kind:
                errors += 1
                kinds[kind] = kinds.get(kind, 0) + 1
            elif check_k is not None and len(orjson.loads(data)["items"]) != check_k:
                errors += 1
                kinds["short answer"] = kinds.get("short answer", 0) + 1
        if lean is not None:
            await lean.close()

    cpu0 = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        if http is not None:
            await http.aclose()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu0
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "errors": errors,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(ms) / elapsed,
        "client_cpu_ms": client_cpu / max(1, len(ms)) * 1000,
        "error_kinds": kinds,
    }


def run_level(server: Server, *args: object, **kwargs: object) -> dict:
    """One level, with the server's CPU time per request beside the client's."""
    before = server.cpu()
    result = _asyncio_run(drive(server.url, *args, **kwargs))  # type: ignore[arg-type]
    result["server_cpu_ms"] = (server.cpu() - before) / max(1, result["requests"]) * 1000
    return result


def _asyncio_run(coro: Awaitable[dict]) -> dict:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def export_src(rev: str, into: Path, scope: str = "serve") -> Path:
    """`src/` for a before/after run: with `scope` "serve", today's `src/` with the serving code
    (`spotifier/serve/`, `cli/service.py`) of git revision `rev` (the same models, the old
    server); with "all", the whole `src/` of `rev` (old models and old server)."""
    import shutil

    if scope == "serve":
        shutil.copytree(REPO / "src", into / "src", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.rmtree(into / "src" / "spotifier" / "serve")
        paths = ["src/spotifier/serve", "src/spotifier/cli/service.py"]
    else:
        paths = ["src"]
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, *paths], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def wait_for_quiet(until: str | None) -> str:
    """Wait while another benchmark holds the machine (`/tmp/spotifier-quiet`), up to `until`
    (HH:MM UTC); say whether the machine was reserved when the run started."""
    if until is None or not QUIET_FILE.exists():
        return "" if not QUIET_FILE.exists() else "machine reserved by another benchmark"
    hour, minute = (int(x) for x in until.split(":"))
    while QUIET_FILE.exists():
        now = dt.datetime.now(dt.UTC)
        if (now.hour, now.minute) >= (hour, minute):
            return "machine still reserved by another benchmark: measured under its load"
        print(f"{QUIET_FILE} exists: waiting (until {until} UTC)", flush=True)
        time.sleep(60)
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--home", type=Path, help="a home with trained models (an empty folder is built once)"
    )
    parser.add_argument("--playlists", type=int, default=5000, help="world size when building")
    parser.add_argument("--models", nargs="+", default=["item-knn", "als", "hybrid"])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--seeds", type=int, default=25, help="seed tracks per request")
    parser.add_argument("--k", type=int, default=500, help="tracks per answer")
    parser.add_argument("--requests", type=int, default=600, help="requests per level")
    parser.add_argument("--cap", type=float, default=30.0, help="seconds per level at most")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2], help="server processes, compared"
    )
    parser.add_argument(
        "--clients", nargs="+", choices=["lean", "httpx"], default=["lean", "httpx"]
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every level this many times, interleaved"
    )
    parser.add_argument(
        "--settle", type=float, default=0.0, help="seconds to wait once the server is up"
    )
    parser.add_argument("--before", help="also serve from this git revision's src/ (same run)")
    parser.add_argument(
        "--before-scope",
        choices=["serve", "all"],
        default="serve",
        help="what --before takes from the revision: its serving code, or all of src/",
    )
    parser.add_argument(
        "--env-variant",
        nargs="+",
        metavar="NAME=VALUE",
        help="also serve with this environment variable set (e.g. SPOTIFIER_NATIVE_RANKER=0)",
    )
    parser.add_argument(
        "--args-variant",
        nargs="+",
        metavar="ARGS",
        help="also serve with these `spotifier serve` options (one quoted string per server, "
        "e.g. '--batch 8')",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to RESULTS.md"
    )
    parser.add_argument(
        "--wait-quiet", metavar="HH:MM", help=f"wait while {QUIET_FILE} exists, until HH:MM UTC"
    )
    args = parser.parse_args()

    from spotifier.models import registry
    from spotifier.serve.testing import free_port

    models = [m for m in args.models if m in registry.model_names()]
    missing = sorted(set(args.models) - set(models))
    if missing:
        print(f"not in this build (skipped): {', '.join(missing)}")
    tmp = tempfile.TemporaryDirectory(prefix="serve-bench-")
    if args.home is None:
        home = build_home(Path(tmp.name), args.playlists, models)
        world = f"generated world, {args.playlists} playlists, seed 0"
    elif (
        not (args.home / "home" / "store.duckdb").exists()
        and not (args.home / "store.duckdb").exists()
    ):
        home = build_home(args.home, args.playlists, models)  # kept for the next run
        world = f"generated world, {args.playlists} playlists, seed 0 (kept in {args.home})"
    else:
        home = args.home / "home" if (args.home / "home" / "store.duckdb").exists() else args.home
        world = f"home {home}"
    variants: list[tuple[str, Path | None, dict[str, str], list[str]]] = [("now", None, {}, [])]
    for pair in args.env_variant or []:  # the same code, one more server with this variable
        key, _, value = pair.partition("=")
        variants.insert(0, (pair, None, {key: value}, []))
    for options in args.args_variant or []:  # the same code, one more server with these options
        variants.insert(0, (options, None, {}, shlex.split(options)))
    if args.before:
        from ingest_bench import short_rev

        rev = short_rev(args.before)
        src = export_src(args.before, Path(tmp.name), args.before_scope)
        variants.insert(0, (f"before ({rev})", src, {}, []))
    bodies, size = _bodies_and_size(home, args.seeds, 500, args.k)
    world = f"{world} ({size})"
    quiet = wait_for_quiet(args.wait_quiet)
    load_start = os.getloadavg()
    rows = []
    commands = []
    try:
        for label, src, extra_env, extra_args in variants:
            for workers in args.workers:
                port = args.port or free_port()
                server = Server(home, models, port, workers, src, label, extra_env, extra_args)
                try:
                    startup = server.wait()
                    commands.append(f"{label}: `{server.command}` (up in {startup:.1f} s)")
                    print(f"server up in {startup:.1f} s: {server.command}", flush=True)
                    if args.settle:  # e.g. the hybrid's ranker compiling in the background
                        time.sleep(args.settle)
                    encoded = {m: [orjson.dumps({**b, "model": m}) for b in bodies] for m in models}
                    for model in models:
                        for client in args.clients:  # warm-up, and a check of every answer
                            run_level(server, encoded[model], client, 4, 40, 60, check_k=args.k)
                    # Models interleaved level by level (and round by round): on a shared
                    # machine their ratio then sees the same background load.
                    for round_no in range(1, args.rounds + 1):
                        for c in args.concurrency:
                            for model in models:
                                for client in args.clients:
                                    r = run_level(
                                        server, encoded[model], client, c, args.requests, args.cap
                                    )
                                    row = {"server": label, "model": model, "workers": workers}
                                    row |= {"round": round_no, "client": client, "concurrency": c}
                                    rows.append({**row, **r})
                                    print(format_row(rows[-1]), flush=True)
                finally:
                    server.stop()
    finally:
        tmp.cleanup()
    report(rows, args, world, commands, load_start, quiet)


def format_row(r: dict) -> str:
    return (
        f"{r['server']:>12} {r['model']:>10} w={r['workers']} r={r['round']} {r['client']:>5} "
        f"c={r['concurrency']:<3} n={r['requests']:<5} p50={r['p50']:7.1f} ms "
        f"p95={r['p95']:7.1f} ms p99={r['p99']:7.1f} ms {r['rps']:7.1f} req/s "
        f"cpu client {r['client_cpu_ms']:.2f} server {r['server_cpu_ms']:.2f} ms/req "
        f"errors={r['errors']} {r['error_kinds'] or ''}"
    )


def report(
    rows: list[dict],
    args: argparse.Namespace,
    world: str,
    commands: list[str],
    load_start: tuple[float, float, float],
    quiet: str,
) -> None:
    header = (
        "| server | model | workers | round | client | concurrency | requests | p50 ms | "
        "p95 ms | p99 ms | req/s | client CPU ms/req | server CPU ms/req | errors |"
    )
    lines = [header, "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['model']} | {r['workers']} | {r['round']} | {r['client']} | "
            f"{r['concurrency']} | {r['requests']} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['p99']:.1f} | {r['rps']:.0f} | {r['client_cpu_ms']:.2f} | "
            f"{r['server_cpu_ms']:.2f} | {r['errors']} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    notes = [*hybrid_ratios(rows), *ratios(rows)]
    load_end = os.getloadavg()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.1f}' for x in load_start)} at the start, "
        f"{', '.join(f'{x:.1f}' for x in load_end)} at the end; niceness {os.nice(0)}"
        + (f"; {quiet}" if quiet else "")
        + (f"; waited {args.settle:.0f} s after each server start" if args.settle else "")
    )
    if "SPOTIFIER_NATIVE_RANKER" in os.environ:  # inherited by the server
        machine += f"; SPOTIFIER_NATIVE_RANKER={os.environ['SPOTIFIER_NATIVE_RANKER']}"
    argv = shlex.join(["python", "bench/serve_bench.py", *sys.argv[1:]])
    section = [
        f"## serve_bench — {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- command: `{argv}`",
        *[f"- server {c}" for c in commands],
        f"- data: {world}; {args.seeds}-seed requests from real playlists, k={args.k}; "
        f"at most {args.requests} requests or {args.cap:.0f} s per level; closed loop "
        "(each connection sends its next request when the last answer is read)",
        f"- machine: {machine}; the client runs on the same machine (its CPU per request "
        "is in the table)",
        "",
        table,
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    print("\n".join(f"- {n}" for n in notes))
    if not args.no_record:
        with RESULTS.open("a") as fh:
            fh.write("\n".join(section) + "\n")
        print(f"appended to {RESULTS}")


#: Models with a latency target (p99 <= 50 ms at concurrency 32).
TARGETED = ("item-knn", "als")


def ratios(rows: list[dict]) -> list[str]:
    """The target check per model, and side-by-side ratios (workers, clients, before/now)."""
    out = []

    def pick(**where: object) -> dict | None:
        found = [r for r in rows if all(r[k] == v for k, v in where.items())]
        return found[0] if found else None

    for r in rows:
        if r["concurrency"] == 32 and pick(**{**_key(r), "concurrency": 1}):
            # The issue's target is for item-knn and als; other models' p99 is reported only.
            ok = ("met" if r["p99"] <= 50 else "missed") if r["model"] in TARGETED else None
            verdict = f" (target <= 50 ms: {ok})" if ok else " (no target)"
            out.append(
                f"{r['server']}, {r['model']}, {r['workers']} worker(s), {r['client']} client: "
                f"p99 at c=32 {r['p99']:.1f} ms{verdict}; throughput "
                f"x{r['rps'] / max(1e-9, (pick(**{**_key(r), 'concurrency': 1}) or r)['rps']):.1f}"
                " from c=1 to c=32"
            )
    for r in rows:
        if r["concurrency"] != 32:
            continue
        key = _key(r)
        if r["client"] == "httpx" and (lean := pick(**{**key, "client": "lean"})):
            out.append(
                f"{r['server']}, {r['model']}, {r['workers']} worker(s), c=32: httpx vs lean "
                f"client: p99 x{r['p99'] / lean['p99']:.2f}, client CPU/request "
                f"x{r['client_cpu_ms'] / max(1e-9, lean['client_cpu_ms']):.1f}"
            )
        if r["workers"] > 1 and (one := pick(**{**key, "workers": 1})):
            out.append(
                f"{r['server']}, {r['model']}, {r['client']} client, c=32: {r['workers']} "
                f"workers vs 1: throughput x{r['rps'] / one['rps']:.2f}, "
                f"p99 x{r['p99'] / one['p99']:.2f}"
            )
        if r["server"] == "now":
            for other in {x["server"] for x in rows} - {"now"}:
                if old := pick(**{**key, "server": other}):
                    out.append(
                        f"{r['model']}, {r['workers']} worker(s), {r['client']} client, c=32: "
                        f"now vs {other}: p99 {old['p99']:.1f} -> {r['p99']:.1f} ms "
                        f"(x{r['p99'] / old['p99']:.2f}), throughput "
                        f"{old['rps']:.0f} -> {r['rps']:.0f} req/s (x{r['rps'] / old['rps']:.2f})"
                    )
    return out


def _key(r: dict) -> dict:
    return {k: r[k] for k in ("server", "model", "workers", "round", "client", "concurrency")}


#: The hybrid's target: its p99 at most this many times item-knn's, same run, 16 to 32 clients.
HYBRID_RATIO = 4.0


def hybrid_ratios(rows: list[dict]) -> list[str]:
    """Each other model's p99 over item-knn's at the same level and round, and the median of
    those per (model, workers, concurrency) over the rounds; the hybrid's against its target.

    Beside it, the ratio of server CPU per request (client CPU added: the clients share the
    machine). With closed-loop clients and a CPU-bound server, each model's mean latency is
    about clients x CPU per request / cores, so the p99 ratio follows that ratio (somewhat below
    it: item-knn's p99 carries more fixed delay for its size), and no scheduling takes a model
    far below it; only less work per request does."""
    out = []
    groups: dict[tuple, list[float]] = {}
    cpu: dict[tuple, list[float]] = {}
    for r in rows:
        base = [
            b
            for b in rows
            if b["model"] == "item-knn" and _key(b) == {**_key(r), "model": "item-knn"}
        ]
        if r["model"] == "item-knn" or not base:
            continue
        ratio = r["p99"] / base[0]["p99"]
        key = (r["server"], r["model"], r["workers"], r["client"], r["concurrency"])
        groups.setdefault(key, []).append(ratio)
        cpu.setdefault(key, []).append(_cpu(r) / max(1e-9, _cpu(base[0])))
    for key, values in groups.items():
        server, model, workers, client, c = key
        median = float(np.median(values))
        verdict = ""
        if model == "hybrid" and 16 <= c <= 32:
            verdict = (
                f" (target <= {HYBRID_RATIO:.0f}x: {'met' if median <= HYBRID_RATIO else 'missed'})"
            )
        out.append(
            f"{server}, {workers} worker(s), {client} client, c={c}: {model} p99 / item-knn p99 "
            f"= {', '.join(f'{v:.2f}' for v in values)} by round, median {median:.2f}{verdict}; "
            f"CPU per request (server + client) / item-knn's = {float(np.median(cpu[key])):.2f}"
        )
    return out


def _cpu(row: dict) -> float:
    return float(row["server_cpu_ms"]) + float(row["client_cpu_ms"])


if __name__ == "__main__":
    main()
