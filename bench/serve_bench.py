"""HTTP latency and throughput of `spotifier serve`: 25-seed requests at concurrency 1, 8 and 32.

The server runs in a subprocess on 127.0.0.1 (exactly `spotifier --home H serve --model M ...`);
this process drives a bounded load with asyncio + httpx (a fixed number of requests per level,
cut short by a time cap) and prints p50/p95/p99 latency and throughput per model and level.
Appends a section to bench/RESULTS.md.

    python bench/serve_bench.py                              # a 5,000-playlist world, built here
    python bench/serve_bench.py --playlists 100000           # the issue's world (takes a while)
    python bench/serve_bench.py --home ~/spotifier-home --models item-knn als hybrid
    python bench/serve_bench.py --home /tmp/w --playlists 3000   # builds /tmp/w once, then reuses

Client and server share the machine: on 2 cores the client's own work is part of the latency.
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
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")
SPOTIFIER = [sys.executable, "-m", "spotifier"]


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
    return bodies


class Server:
    def __init__(self, home: Path, models: list[str], port: int, workers: int = 1) -> None:
        args = [*SPOTIFIER, "--home", str(home), "-q", "serve", "--port", str(port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        for name in models:
            args += ["--model", name]
        self.url = f"http://127.0.0.1:{port}"
        self.command = shlex.join(["spotifier", *args[len(SPOTIFIER) :]])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, timeout: float = 600) -> float:
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

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def drive(
    url: str, bodies: list[dict], model: str, concurrency: int, total: int, cap_s: float
) -> dict:
    """`total` requests with `concurrency` in flight (stops early after `cap_s` seconds)."""
    latencies: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    next_i = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + cap_s

        async def worker() -> None:
            nonlocal next_i, errors
            while next_i < total and time.perf_counter() < deadline:
                body = {**bodies[next_i % len(bodies)], "model": model}
                next_i += 1
                t0 = time.perf_counter()
                try:
                    response = await client.post("/v1/continuations", json=body)
                    kind = "" if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                if kind:
                    errors += 1
                    kinds[kind] = kinds.get(kind, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "errors": errors,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(ms) / elapsed,
        "error_kinds": kinds,
    }


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
    args = parser.parse_args()

    from spotifier.models import registry
    from spotifier.serve.testing import free_port

    models = [m for m in args.models if m in registry.model_names()]
    missing = sorted(set(args.models) - set(models))
    if missing:
        print(f"not in this build (skipped): {', '.join(missing)}")
    tmp = None
    if args.home is None:
        tmp = tempfile.TemporaryDirectory(prefix="serve-bench-")
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
    bodies = request_bodies(home, args.seeds, 500, args.k)
    rows = []
    commands = []
    try:
        for workers in args.workers:
            server = Server(home, models, args.port or free_port(), workers)
            try:
                startup = server.wait()
                commands.append(f"`{server.command}` (up in {startup:.1f} s)")
                print(f"server up in {startup:.1f} s: {server.command}")
                for model in models:
                    asyncio.run(drive(server.url, bodies, model, 4, 40, 30))  # warm-up
                    for c in args.concurrency:
                        r = asyncio.run(
                            drive(server.url, bodies, model, c, args.requests, args.cap)
                        )
                        rows.append({"model": model, "workers": workers, "concurrency": c, **r})
                        print(
                            f"{model:>10} w={workers} c={c:<3} n={r['requests']:<5} "
                            f"p50={r['p50']:7.1f} ms p95={r['p95']:7.1f} ms "
                            f"p99={r['p99']:7.1f} ms {r['rps']:7.1f} req/s errors={r['errors']} "
                            f"{r['error_kinds'] or ''}",
                            flush=True,
                        )
            finally:
                server.stop()
    finally:
        if tmp is not None:
            tmp.cleanup()
    report(rows, args, world, commands)


def report(rows: list[dict], args: argparse.Namespace, world: str, commands: list[str]) -> None:
    header = (
        "| model | workers | concurrency | requests | p50 ms | p95 ms | p99 ms | req/s | errors |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['workers']} | {r['concurrency']} | {r['requests']} | "
            f"{r['p50']:.1f} | "
            f"{r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | {r['errors']} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    ratios = []
    for model in sorted({r["model"] for r in rows}):
        for w in sorted({r["workers"] for r in rows}):
            by_c = {r["concurrency"]: r for r in rows if r["model"] == model and r["workers"] == w}
            if 1 in by_c and 32 in by_c:
                ratios.append(
                    f"{model}, {w} worker(s): throughput x{by_c[32]['rps'] / by_c[1]['rps']:.1f} "
                    f"from c=1 to c=32; p99 at c=32 {by_c[32]['p99']:.1f} ms (target <= 50 ms: "
                    f"{'met' if by_c[32]['p99'] <= 50 else 'missed'})"
                )
        top = max((r["workers"] for r in rows), default=1)
        one = {r["concurrency"]: r for r in rows if r["model"] == model and r["workers"] == 1}
        many = {r["concurrency"]: r for r in rows if r["model"] == model and r["workers"] == top}
        if top > 1 and 32 in one and 32 in many:
            ratios.append(
                f"{model}: {top} workers vs 1 at c=32: throughput "
                f"x{many[32]['rps'] / one[32]['rps']:.2f}, "
                f"p99 x{many[32]['p99'] / one[32]['p99']:.2f}"
            )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()}, load average {os.getloadavg()[0]:.1f} at the end"
    )
    argv = shlex.join(["python", "bench/serve_bench.py", *sys.argv[1:]])
    section = [
        f"## serve_bench — {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"- command: `{argv}`",
        *[f"- server: {c}" for c in commands],
        f"- data: {world}; {args.seeds}-seed requests from real playlists, k={args.k}; "
        f"at most {args.requests} requests or {args.cap:.0f} s per level",
        f"- machine: {machine}; client (asyncio + httpx) on the same machine",
        "",
        table,
        "",
        *[f"- {r}" for r in ratios],
        "",
    ]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section) + "\n")
    print("\n".join(f"- {r}" for r in ratios))
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
