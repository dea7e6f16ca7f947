"""Loopback load test of `whyflow serve-model` (and MLflow's own scoring server on the same model).

Starts the server as a real process, then drives POST /invocations from an asyncio client (keep-alive
connections, one per simulated client) at 1, 8 and 64 concurrent clients, with single-row and
100-row requests drawn from the analysis's own data. Each cell is bounded by a request count and a
time limit. Writes P50/P90/P99/max latency and throughput to bench/results/serve-load.md, with the
date, the machine (nproc, load average before and after) and the command.

    .venv/bin/python bench/serve_load.py coupon_618 --servers whyflow,mlflow --requests 2000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "serve-load.md"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, process: subprocess.Popen, limit: float = 180.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    sys.exit(f"server on port {port} not ready after {limit:.0f} s")


def _start(kind: str, analysis: str, params: Path, port: int) -> tuple[subprocess.Popen, float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # MLflow execs uvicorn
    if kind == "whyflow":
        command = [sys.executable, "-m", "flows.cli", "serve-model", analysis, "--port", str(port),
                   "--params", str(params)]
    else:
        sys.path.insert(0, str(ROOT))
        from tasks.serve.registry import find_served_model

        source = find_served_model(params.resolve().parent, analysis).source
        command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", source, "--env-manager", "local",
                   "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=params.resolve().parent, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    return process, _wait(port, process), " ".join(Path(c).name if c == sys.executable else c for c in command)


def _version(port: int) -> dict | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as answer:
        return json.loads(answer.read()) if answer.headers.get_content_type() == "application/json" else None


def _bodies(analysis: str, params: Path, port: int, rows: int, count: int, seed: int) -> list[bytes]:
    from whyflow.spec import load_spec

    version = _version(port)
    spec = load_spec(params, analysis, [])
    import pandas as pd

    frame = pd.read_parquet(spec.resolve(spec.data.path))
    features = list(version["features"]) if version else None
    if features is None:  # MLflow's /version is its version string: the features come from our own server's
        sys.exit("run the whyflow server first: it names the features")
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        sample = frame.iloc[rng.integers(0, len(frame), rows)][features]
        bodies.append(json.dumps({"dataframe_split": {"columns": features,
                                                      "data": sample.to_numpy().tolist()}}).encode())
    return bodies


def _request(body: bytes) -> bytes:
    return (b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _client(port: int, requests: list[bytes], budget: list[int], deadline: float, out: list[float],
                  errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = 0
    while budget[0] > 0 and time.perf_counter() < deadline:
        budget[0] -= 1
        started = time.perf_counter()
        writer.write(requests[i % len(requests)])
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        out.append(time.perf_counter() - started)
        if b" 200 " not in status:
            errors[0] += 1
        i += 1
    writer.close()


async def _cell(port: int, requests: list[bytes], clients: int, count: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors, budget = [0], [count]
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, requests[c::clients] or requests, budget, started + seconds, latencies, errors)
                           for c in range(clients)))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "errors": errors[0], "p50": float(np.percentile(ms, 50)),
            "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "throughput": len(ms) / wall, "seconds": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("analysis", nargs="?", default="coupon_618")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--servers", default="whyflow,mlflow", help="whyflow, mlflow or both (comma-separated)")
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--rows", default="1,100")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell (upper bound)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit per cell")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="each cell this many times; the table gives medians")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results, started_at = [], dt.datetime.now(dt.timezone.utc)
    commands = {}
    bodies: dict[int, list[bytes]] = {}
    served = None
    for kind in args.servers.split(","):
        port = _free_port()
        process, ready, commands[kind] = _start(kind, args.analysis, args.params, port)
        served = served or _version(port)
        try:
            for rows in (int(r) for r in args.rows.split(",")):
                if rows not in bodies:
                    drawn = _bodies(args.analysis, args.params, port, rows, 200, args.seed)
                    bodies[rows] = [_request(b) for b in drawn]
                asyncio.run(_cell(port, bodies[rows], 1, args.warmup, args.seconds))
                for clients in (int(c) for c in args.clients.split(",")):
                    repeats = [asyncio.run(_cell(port, bodies[rows], clients, args.requests, args.seconds))
                               for _ in range(args.repeats)]
                    cell = {key: float(np.median([r[key] for r in repeats])) for key in repeats[0]}
                    cell["p99_range"] = (min(r["p99"] for r in repeats), max(r["p99"] for r in repeats))
                    for key in ("requests", "errors"):
                        cell[key] = sum(r[key] for r in repeats)
                    results.append({"server": kind, "rows": rows, "clients": clients, "ready_s": ready, **cell})
                    print(json.dumps(results[-1]), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    command = " ".join(["python", "bench/serve_load.py", *sys.argv[1:]])
    lines = [f"# `whyflow serve-model {args.analysis}`: loopback latency and throughput", "",
             f"- date: {started_at.strftime('%Y-%m-%d %H:%M UTC')}",
             f"- machine: nproc {os.cpu_count()} ({_cpu()}), Python {platform.python_version()}, {platform.system()}",
             f"- load average (1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)} "
             "(other sessions share these cores)",
             f"- command: `{command}`",
             *[f"- {kind} server: `{cmd}`" for kind, cmd in commands.items()],
             *([f"- model: {served['analysis']} version {served['model_version']} (run {served['run_id']}), "
                f"outputs {', '.join(served['outputs'])}; policy: {(served['policy'] or {}).get('rule')}"]
               if served else []),
             f"- each cell: {args.repeats} repeats of up to {args.requests} requests or {args.seconds:g} s each, after "
             f"{args.warmup} warm-up requests; P50/P90/P99/max/throughput are medians over the repeats (requests and "
             "errors: totals); "
             "asyncio client on the same machine, one keep-alive connection per client; bodies are "
             "`dataframe_split` rows drawn from the analysis's data", "",
             "| server | rows/request | clients | requests | errors | P50 ms | P90 ms | P99 ms | P99 range ms | max ms "
             "| requests/s | rows/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['server']} | {r['rows']} | {r['clients']} | {r['requests']} | {r['errors']} | "
                     f"{r['p50']:.2f} | "
                     f"{r['p90']:.2f} | {r['p99']:.2f} | {r['p99_range'][0]:.2f}-{r['p99_range'][1]:.2f} | "
                     f"{r['max']:.1f} | {r['throughput']:.0f} | "
                     f"{r['throughput'] * r['rows']:.0f} |")
    lines += ["", "Targets (issue #19, this 2-core machine): P99 < 10 ms for single-row requests from one client, "
              "< 40 ms with 8 clients.", ""]
    for kind in commands:
        cells = {(r["rows"], r["clients"]): r for r in results if r["server"] == kind}
        for clients, limit in ((1, 10.0), (8, 40.0)):
            if (1, clients) in cells:
                p99 = cells[(1, clients)]["p99"]
                lines.append(f"- {kind}, single row, {clients} client{'s' if clients > 1 else ''}: P99 {p99:.2f} ms "
                             f"({'meets' if p99 < limit else 'misses'} < {limit:g} ms)")
    lines += ["", "Both servers load the same registered pyfunc. MLflow's (`mlflow models serve`, FastAPI on uvicorn with "
              "h11; httptools and uvloop are not installed) builds a pandas frame, enforces the signature and "
              "serialises through pandas on every request; `whyflow serve-model` (stdlib ThreadingHTTPServer, "
              "orjson, keep-alive, TCP_NODELAY) parses the JSON once and calls the served models' `score` on "
              "numpy columns. Percentiles include the client's own time on the same two cores."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
