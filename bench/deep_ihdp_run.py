"""The deep estimators checked as a reviewer would: held-out data, the real `whyflow run` CLI, scores
computed from the results files a user gets (issue #15, "How we will check it").

Held-out data (used nowhere else in bench/ or tests/, nothing was tuned on them):
- IHDP response surface B, `econml.data.dgps.ihdp_surface_B(random_state=R)`, R = 3001..3010;
- the VCNet-style dose simulation, `data.dose_dgps.vcnet_style(n=1000, seed=S)`, S = 3001..3005.

Each part makes a throwaway project the way a user does (README: a git repository with DVC and a local
DVC remote, `params.yaml`, the data under data/raw; MLflow on SQLite in the project, `mlflow.db`) under
/tmp, starts a real local Prefect server (`prefect server start` on loopback, its own PREFECT_HOME) and
exports PREFECT_API_URL, then runs `.venv/bin/whyflow run ANALYSIS` in a subprocess per analysis with the
registry's defaults (no estimator_options) and `refuters: []`.

Parts (`--part`):
- `ihdp`: one analysis per replicate, estimators tarnet, cfrnet, dragonnet, dcn_pd and causal_forest
  (the baseline; cevae is left out: the registry requires `proxies`, which a back-door design has none
  of). Per estimator: in-sample sqrt(PEHE) from results/<analysis>/unit_effects.parquet (`cate.<E>` at
  `row` against the true unit effects), |ATE - sample ATE| and whether the 95% CI of estimates.json
  covers the sample ATE (the mean of the true unit effects); per run: wall and CPU seconds of the
  `whyflow run` subprocess and its children (whyflow logs no whole-run timing metric, only
  `seconds.<E>` per estimator, also recorded).
- `repeat`: one replicate's analysis run twice in one project; unit_effects.parquet compared bit for
  bit (pandas assert_frame_equal, check_exact=True), whole frame and per `cate.<E>` column.
- `dose`: one analysis per seed with `treatment_type: continuous` and estimators vcnet, drnet; each
  curve of results/<analysis>/dose_response.json scored on the file's own grid against sim.mu(grid):
  MISE and the share of grid points whose band covers mu(t).
Other people edit this working tree while benchmarks run, so by default each part exports the committed
HEAD at its start (`git archive`, next to the workdir) and runs `whyflow` with that tree first on
PYTHONPATH (the console script's `from flows.cli import main` then imports it, not the editable
install); every row records that commit, the product files that were dirty in the working tree (not
used), and the load average.

    export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
    nice -n 5 .venv/bin/python bench/deep_ihdp_run.py --part ihdp --replicates 3001-3010 --out /tmp/run-ihdp.jsonl
    nice -n 5 .venv/bin/python bench/deep_ihdp_run.py --part repeat --replicates 3001 --out /tmp/run-repeat.jsonl
    nice -n 5 .venv/bin/python bench/deep_ihdp_run.py --part dose --replicates 3001-3005 --out /tmp/run-dose.jsonl
    .venv/bin/python bench/deep_ihdp_run.py --table /tmp/run-ihdp.jsonl /tmp/run-repeat.jsonl /tmp/run-dose.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.deep_ihdp import DEEP, _q  # noqa: E402  (the in-process bench's estimator order and quantile helper)

BIN = Path(sys.executable).parent  # the venv's bin: whyflow, prefect, dvc
IHDP_ESTIMATORS = [name for name in DEEP if name != "cevae"] + ["causal_forest"]
DOSE_ESTIMATORS = ["vcnet", "drnet"]
PRODUCT = ["estimators", "tasks", "flows", "whyflow", "data/dose_dgps.py", "pyproject.toml"]


# ---------------------------------------------------------------- environment and project set-up

def code_version() -> dict:
    """HEAD of this repository and the product files that differ from it in the working tree."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *PRODUCT], cwd=REPO, capture_output=True,
                           text=True).stdout.split("\n")
    return {"head": head, "dirty_product_files": [line[3:] for line in dirty if line.strip()]}


def export_code(commit: str, into: Path) -> Path:
    """The committed tree of `commit` (`git archive`), extracted once: runs import it first (PYTHONPATH),
    so other people's uncommitted edits in this shared working tree cannot leak into them."""
    target = into / f"code-{commit}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f"code-{commit[:10]}-", dir=into))
        archive = subprocess.run(["git", "archive", commit], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(staging)], input=archive, check=True)
        with contextlib.suppress(OSError):  # another process may have made it meanwhile
            staging.rename(target)
    return target


def _sh(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@whyflow.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@whyflow.invalid"}
    return subprocess.run(list(args), cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def make_project(root: Path, params: str, frames: dict) -> Path:
    """A user's project: git + DVC (local remote) + params.yaml + data/raw/*.parquet, committed."""
    (root / "data" / "raw").mkdir(parents=True)
    for name, frame in frames.items():
        frame.to_parquet(root / "data" / "raw" / f"{name}.parquet")
    (root / "params.yaml").write_text(params)
    (root / ".gitignore").write_text("/data/raw/\n/data/snapshots/\n/results/\n/mlflow.db\n/mlartifacts/\n"
                                     "/.prefect/\n")
    _sh(root, "git", "init", "-q")
    _sh(root, str(BIN / "dvc"), "init", "-q")
    _sh(root, str(BIN / "dvc"), "remote", "add", "-d", "local", str(root.parent / "dvcremote"))
    _sh(root, "git", "add", ".gitignore", "params.yaml", ".dvc", ".dvcignore")
    _sh(root, "git", "commit", "-qm", "benchmark project")
    return root


@contextlib.contextmanager
def prefect_server(home: Path):
    """`prefect server start` on a free loopback port; yields its API URL; stopped by its process group."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = open(home.parent / "prefect-server.log", "w")
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                               "--no-ui"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"prefect server did not start; see {home.parent / 'prefect-server.log'}")
            time.sleep(1)
        yield api
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, own user + system CPU seconds) of every process on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return table


def whyflow_run(root: Path, api: str, analysis: str, code: Path | None) -> dict:
    """`whyflow run ANALYSIS` as a user types it, in the project; wall and CPU seconds.

    CPU: whyflow's estimator workers come from a multiprocessing forkserver that outlives the run and
    is never reaped by it, so getrusage(RUSAGE_CHILDREN) misses them. `run_cpu_s` is that rusage figure
    (whyflow's process and every descendant it reaped) plus the own CPU seconds of each process of the
    forkserver's subtree, sampled every 0.5 s (the last sample counts; its last half second is missed).
    `run_cpu_rusage_s` keeps the rusage figure alone."""
    env = {**os.environ, "PREFECT_API_URL": api}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store: mlflow.db in the project
    if code is not None:
        env["PYTHONPATH"] = str(code)  # the `whyflow` script's `from flows.cli import main` finds it first
    version = {**code_version(), "code": str(code) if code else "working tree"}
    version["commit"] = code.name.removeprefix("code-") if code else version["head"]
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    logs = root.parent / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"{analysis}-{int(time.time())}"
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        child = subprocess.Popen([str(BIN / "whyflow"), "run", analysis], cwd=root, env=env, stdout=out, stderr=err)
        parents, cpu, alive = {child.pid: os.getpid()}, {}, set()
        while child.poll() is None:
            alive = set()
            for pid, (parent, seconds) in _processes().items():
                if pid not in parents and parent in parents:
                    parents[pid] = parent
                if pid in parents:
                    cpu[pid] = max(cpu.get(pid, 0.0), seconds)
                    alive.add(pid)
            time.sleep(0.5)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # children of whyflow still alive at its end are not reaped by it: add their subtrees' own CPU
    orphans = {p for p in alive if parents.get(p) == child.pid}
    grown = True
    while grown:
        more = {p for p, parent in parents.items() if parent in orphans} - orphans
        orphans |= more
        grown = bool(more)
    stdout, stderr = Path(f"{log}.out").read_text(), Path(f"{log}.err").read_text()
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    return {"exit_code": child.returncode, "run_wall_s": wall,
            "run_cpu_s": rusage + float(sum(cpu.get(p, 0.0) for p in orphans)), "run_cpu_rusage_s": rusage,
            "processes": len(parents), "unreaped_processes": len(orphans),
            "mlflow_run_id": last.split("=", 1)[1] if last.startswith("mlflow_run_id=") else None,
            "stderr_tail": stderr.strip().splitlines()[-1] if child.returncode and stderr.strip() else None,
            "load_before": load_before, "load_after": os.getloadavg(), **version,
            "dirty_product_files_after": code_version()["dirty_product_files"],
            **run_tags(root, last.split("=", 1)[1] if last.startswith("mlflow_run_id=") else None)}


def run_tags(root: Path, run_id: str | None) -> dict:
    """The logged run's own timings: per estimator `seconds.<E>` and the served-model step's seconds."""
    if not run_id:
        return {}
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_run(run_id)
    return {"serve_seconds": float(run.data.tags.get("whyflow.serve.seconds", "nan")),
            "serve_status": run.data.tags.get("whyflow.serve.status", "")[:200],
            "logged_seconds": {k: v for k, v in run.data.metrics.items() if k.startswith("seconds.")}}


# ---------------------------------------------------------------- IHDP

def ihdp_frame(replicate: int):
    import pandas as pd
    from econml.data.dgps import ihdp_surface_B

    y, t, x, truth = ihdp_surface_B(random_state=replicate)
    names = [f"x{i}" for i in range(1, x.shape[1])]  # the first column is the constant
    frame = pd.DataFrame(x[:, 1:], columns=names).assign(treated=t.astype(float), y=y)
    return frame, names, np.asarray(truth, dtype=float)


def ihdp_spec(replicate: int, names: list[str]) -> str:
    return f"""  ihdp_{replicate}:
    data: {{path: data/raw/ihdp_{replicate}.parquet}}
    treatment: treated
    outcome: y
    confounders: [{", ".join(names)}]
    estimators: [{", ".join(IHDP_ESTIMATORS)}]
    refuters: []
    seed: {replicate}
"""


def score_ihdp(root: Path, replicate: int, truth: np.ndarray, run: dict) -> list[dict]:
    import pandas as pd

    folder = root / "results" / f"ihdp_{replicate}"
    effects = pd.read_parquet(folder / "unit_effects.parquet")
    estimates = {e["estimator"]: e for e in json.loads((folder / "estimates.json").read_text())["estimates"]}
    sate = float(truth.mean())
    rows = []
    for name in IHDP_ESTIMATORS:
        e = estimates.get(name, {})
        row = {"part": "ihdp", "replicate": replicate, "estimator": name, "status": e.get("status"),
               "error": e.get("error"), "estimator_seconds": e.get("seconds"), "sample_ate": sate, **run}
        column = f"cate.{name}"
        if column in effects:
            cate = effects[column].to_numpy(dtype=float)
            row["pehe_in"] = float(np.sqrt(np.mean((cate - truth[effects["row"].to_numpy()]) ** 2)))
            row["rows_scored"] = int(np.isfinite(cate).sum())
        if e.get("status") == "ok" and e.get("ate") is not None:
            row["ate"] = e["ate"]
            row["ate_error"] = float(abs(e["ate"] - sate))
            low, high = e.get("ci_low"), e.get("ci_high")
            finite = low is not None and high is not None and np.isfinite(low) and np.isfinite(high)
            row["covers"] = bool(low <= sate <= high) if finite else None
            row["ci_width"] = float(high - low) if finite else None
        rows.append(row)
    return rows


def part_ihdp(replicates: list[int], workdir: Path, sink, code: Path | None) -> None:
    frames, specs, truths = {}, [], {}
    for k in replicates:
        frame, names, truth = ihdp_frame(k)
        frames[f"ihdp_{k}"], truths[k] = frame, truth
        specs.append(ihdp_spec(k, names))
    root = make_project(workdir / "project", "analyses:\n" + "".join(specs), frames)
    with prefect_server(workdir / ".prefect") as api:
        for k in replicates:
            run = whyflow_run(root, api, f"ihdp_{k}", code)
            if run["exit_code"] != 0:
                emit(sink, {"part": "ihdp", "replicate": k, "estimator": None, **run})
                continue
            shutil.copy(root / "results" / f"ihdp_{k}" / "unit_effects.parquet",
                        workdir / f"unit_effects_ihdp_{k}.parquet")
            for row in score_ihdp(root, k, truths[k], run):
                emit(sink, row)


def part_repeat(replicate: int, workdir: Path, sink, code: Path | None) -> None:
    import pandas as pd

    frame, names, truth = ihdp_frame(replicate)
    root = make_project(workdir / "project", "analyses:\n" + ihdp_spec(replicate, names), {f"ihdp_{replicate}": frame})
    effects, runs = [], []
    with prefect_server(workdir / ".prefect") as api:
        for attempt in range(2):
            run = whyflow_run(root, api, f"ihdp_{replicate}", code)
            runs.append(run)
            if run["exit_code"] != 0:
                emit(sink, {"part": "repeat", "replicate": replicate, "attempt": attempt, **run})
                return
            path = workdir / f"unit_effects_{attempt}.parquet"
            shutil.copy(root / "results" / f"ihdp_{replicate}" / "unit_effects.parquet", path)
            effects.append(pd.read_parquet(path))
            for row in score_ihdp(root, replicate, truth, run):
                emit(sink, {**row, "part": "repeat", "attempt": attempt})
                if attempt == 0:  # the first run is also this replicate's row of the IHDP table
                    emit(sink, {**row, "via": "repeat"})
    first, second = effects

    def identical(a, b) -> bool:
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            return True
        except AssertionError:
            return False

    columns = {c: identical(first[["row", c]], second[["row", c]]) for c in first.columns if c != "row"}
    emit(sink, {"part": "repeat_check", "replicate": replicate, "frame_identical": identical(first, second),
                "columns_identical": columns, "files_byte_identical":
                (workdir / "unit_effects_0.parquet").read_bytes() == (workdir / "unit_effects_1.parquet").read_bytes(),
                "max_abs_diff": {c: float(np.max(np.abs(first[c].to_numpy() - second[c].to_numpy())))
                                 for c in columns}, "run_ids": [r["mlflow_run_id"] for r in runs],
                "commits": [r["commit"] for r in runs]})


# ---------------------------------------------------------------- dose-response

def part_dose(seeds: list[int], workdir: Path, sink, code: Path | None) -> None:
    from data.dose_dgps import vcnet_style

    sims = {s: vcnet_style(n=1000, seed=s) for s in seeds}
    specs = "".join(f"""  dose_{s}:
    data: {{path: data/raw/dose_{s}.parquet}}
    treatment: dose
    outcome: y
    treatment_type: continuous
    confounders: [{", ".join(f"x{i + 1}" for i in range(sims[s].x.shape[1]))}]
    estimators: [{", ".join(DOSE_ESTIMATORS)}]
    refuters: []
    seed: {s}
""" for s in seeds)
    root = make_project(workdir / "project", "analyses:\n" + specs, {f"dose_{s}": sims[s].frame() for s in seeds})
    with prefect_server(workdir / ".prefect") as api:
        for s in seeds:
            run = whyflow_run(root, api, f"dose_{s}", code)
            folder = root / "results" / f"dose_{s}"
            if run["exit_code"] != 0 or not (folder / "dose_response.json").is_file():
                emit(sink, {"part": "dose", "seed": s, "estimator": None, **run})
                continue
            shutil.copy(folder / "dose_response.json", workdir / f"dose_response_{s}.json")
            curves = json.loads((folder / "dose_response.json").read_text())
            estimates = {e["estimator"]: e for e in json.loads((folder / "estimates.json").read_text())["estimates"]}
            sim = sims[s]
            q10, q90 = np.quantile(sim.t, [0.1, 0.9])
            for name in DOSE_ESTIMATORS:
                e = estimates.get(name, {})
                row = {"part": "dose", "seed": s, "estimator": name, "status": e.get("status"), "error": e.get("error"),
                       "estimator_seconds": e.get("seconds"), "avg_derivative": e.get("ate"),
                       "true_derivative": sim.derivative, **run}
                if name in curves:
                    curve = curves[name]
                    grid = np.asarray(curve["grid"], dtype=float)
                    mu, low, high = (np.asarray(curve[k], dtype=float) for k in ("mu", "low", "high"))
                    truth = sim.mu(grid)
                    inside = (low <= truth) & (truth <= high)
                    interior = (grid >= q10) & (grid <= q90)
                    row.update({"kind": curve.get("kind"), "grid_points": int(grid.size),
                                "grid_is_bench_grid": bool(grid.size == 21 and np.allclose(grid, sim.grid())),
                                "mise": float(np.mean((mu - truth) ** 2)), "coverage": float(inside.mean()),
                                "coverage_interior": float(inside[interior].mean()) if interior.any() else None,
                                "band_width": float(np.mean(high - low))})
                    if "off_support_share" in curve:  # per dose, the share of units for which it is off support
                        supported = np.asarray(curve["off_support_share"], dtype=float) < 0.4
                        row.update({"supported_points": int(supported.sum()),
                                    "coverage_supported": float(inside[supported].mean()) if supported.any() else None})
                emit(sink, row)


# ---------------------------------------------------------------- tables

def emit(sink, row: dict) -> None:
    sink.write(json.dumps(row) + "\n")
    sink.flush()
    brief = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
             if k not in ("dirty_product_files", "load_before", "load_after")}
    print(json.dumps(brief), flush=True)


def _iqr(values) -> str:
    return f"{np.median(values):.2f} [{_q(values, .25):.2f}, {_q(values, .75):.2f}]" if values else "-"


def _supported(rows: list[dict]) -> str:
    """Coverage pooled over the grid points with under 40% of units off support (when the file says)."""
    known = [r for r in rows if r.get("supported_points")]
    if not known:
        return "-"
    points = sum(r["supported_points"] for r in known)
    return f"{sum(r['coverage_supported'] * r['supported_points'] for r in known) / points:.0%} ({points})"


def _ranges(values: list[int]) -> str:
    """3001, 3002, 3003, 3005 -> "3001-3003, 3005"."""
    spans, start = [], values[0]
    for previous, value in zip(values, values[1:] + [None]):
        if value != previous + 1 if value is not None else True:
            spans.append(f"{start}-{previous}" if previous != start else f"{start}")
            start = value
    return ", ".join(spans)


def _code(r: dict) -> str:
    where = "git archive" if r.get("code", "").startswith("/") else "working tree"
    return f"{r['commit'][:10]} ({where})"


def table(paths: list[str]) -> str:
    rows = [json.loads(line) for path in paths for line in open(path)]
    out = []
    ihdp = {(r["replicate"], r["estimator"]): r for r in rows if r["part"] == "ihdp"}  # a rerun replaces
    if ihdp:
        reps = sorted({k for k, _ in ihdp})
        out += [f"IHDP surface B, held-out replicates {_ranges(reps)} ({len(reps)} analyses through `whyflow run`):",
                "", "| estimator | reps ok | sqrt(PEHE) in-sample, median [IQR] | ATE abs. error, median [IQR] | "
                "95% CI covers the sample ATE | median CI width | estimator s (estimates.json), median |",
                "|---|---:|---|---|---:|---:|---:|"]
        for name in IHDP_ESTIMATORS:
            mine = [r for r in ihdp.values() if r["estimator"] == name and r.get("status") == "ok"]
            if not mine:
                continue
            covered = [r["covers"] for r in mine if r.get("covers") is not None]
            widths = [r["ci_width"] for r in mine if r.get("ci_width") is not None]
            out.append(f"| {name} | {len(mine)} of {len(reps)} | {_iqr([r['pehe_in'] for r in mine if 'pehe_in' in r])}"
                       f" | {_iqr([r['ate_error'] for r in mine])} | "
                       f"{f'{sum(covered)} of {len(covered)}' if covered else 'no CI'} | "
                       f"{f'{np.median(widths):.2f}' if widths else '-'} | "
                       f"{np.median([r['estimator_seconds'] for r in mine]):.1f} |")
        runs = {r["replicate"]: r for r in ihdp.values()}
        out += ["", "| replicate | exit | run wall s | run CPU s | of which: served-model step wall s | "
                "load avg (1 min) before -> after | code run |", "|---:|---:|---:|---:|---:|---|---|"]
        for k, r in sorted(runs.items()):
            out.append(f"| {k} | {r['exit_code']} | {r['run_wall_s']:.0f} | {r['run_cpu_s']:.0f} | "
                       f"{r.get('serve_seconds', float('nan')):.0f} | "
                       f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} | {_code(r)} |")
        out.append(f"| median | | {np.median([r['run_wall_s'] for r in runs.values()]):.0f} | "
                   f"{np.median([r['run_cpu_s'] for r in runs.values()]):.0f} | "
                   f"{np.median([r.get('serve_seconds', np.nan) for r in runs.values()]):.0f} | | |")
    for check in (r for r in rows if r["part"] == "repeat_check"):
        runs = [r for r in rows if r["part"] == "repeat" and r.get("estimator") == IHDP_ESTIMATORS[0]]
        out += ["", f"Bit-identity, replicate {check['replicate']} run twice (MLflow runs {', '.join(check['run_ids'])}; "
                f"commits {', '.join(c[:10] for c in check['commits'])}): whole unit_effects.parquet frame identical "
                f"(assert_frame_equal, check_exact=True): **{check['frame_identical']}**; files byte-identical: "
                f"{check['files_byte_identical']}", "", "| column | identical | max abs. difference |", "|---|---|---:|"]
        for c, same in check["columns_identical"].items():
            out.append(f"| {c} | {same} | {check['max_abs_diff'][c]:.3g} |")
        if runs:
            out.append("")
            out.append("Run wall / CPU s: " + "; ".join(f"{r['run_wall_s']:.0f} / {r['run_cpu_s']:.0f}" for r in runs))
    dose = {(r["seed"], r["estimator"]): r for r in rows if r["part"] == "dose"}
    if dose:
        seeds = sorted({s for s, _ in dose})
        out += ["", f"Dose-response, VCNet-style simulation n = 1000, held-out seeds {_ranges(seeds)} "
                f"({len(seeds)} analyses through `whyflow run`), scored on dose_response.json's own grid:", "",
                "| estimator | reps ok | curve kind | MISE, median [IQR] | band covers mu(t): mean share of grid points "
                "| replicates with >= 90% covered | interior (10-90% dose quantiles): mean share | "
                "where < 40% of units are off support: share covered (points) | mean band width | "
                "avg. derivative abs. error, median | estimator s, median |",
                "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name in DOSE_ESTIMATORS:
            mine = [r for r in dose.values() if r["estimator"] == name and "mise" in r]
            if not mine:
                continue
            mise = [r["mise"] for r in mine]
            slope = [abs(r["avg_derivative"] - r["true_derivative"]) for r in mine if r.get("avg_derivative") is not None]
            interior = [r["coverage_interior"] for r in mine if r.get("coverage_interior") is not None]
            out.append(f"| {name} | {len(mine)} of {len(seeds)} | {', '.join(sorted({str(r.get('kind')) for r in mine}))}"
                       f" | {np.median(mise):.4f} [{_q(mise, .25):.4f}, {_q(mise, .75):.4f}] | "
                       f"{np.mean([r['coverage'] for r in mine]):.0%} | "
                       f"{sum(r['coverage'] >= 0.9 for r in mine)} of {len(mine)} | "
                       f"{f'{np.mean(interior):.0%}' if interior else '-'} | {_supported(mine)} | "
                       f"{np.mean([r['band_width'] for r in mine]):.3f} | "
                       f"{f'{np.median(slope):.3f}' if slope else '-'} | "
                       f"{np.median([r['estimator_seconds'] for r in mine]):.1f} |")
        per = {s: r for (s, _), r in dose.items()}
        out += ["", "| seed | exit | run wall s | run CPU s | load avg (1 min) before -> after | code run | "
                "vcnet MISE / coverage | drnet MISE / coverage |",
                "|---:|---:|---:|---:|---|---|---|---|"]
        for s, r in sorted(per.items()):
            cells = []
            for name in DOSE_ESTIMATORS:
                d = dose.get((s, name), {})
                cells.append(f"{d['mise']:.4f} / {d['coverage']:.0%}" if "mise" in d else "-")
            out.append(f"| {s} | {r['exit_code']} | {r['run_wall_s']:.0f} | {r['run_cpu_s']:.0f} | "
                       f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} | {_code(r)} | "
                       f"{' | '.join(cells)} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["ihdp", "repeat", "dose"])
    parser.add_argument("--replicates", default="3001-3010", help="LOW-HIGH or one number (random states / seeds)")
    parser.add_argument("--out", help="jsonl file the rows are appended to")
    parser.add_argument("--workdir", help="where the throwaway project goes (default: a new folder under /tmp)")
    parser.add_argument("--code", choices=["head", "worktree"], default="head",
                        help="head (default): run the committed HEAD, exported with git archive next to the workdir; "
                             "worktree: this working tree as it is")
    parser.add_argument("--table", nargs="+", metavar="JSONL", help="print the markdown tables of these files")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.part or not args.out:
        parser.error("--part and --out are required unless --table is given")
    low, _, high = args.replicates.partition("-")
    replicates = list(range(int(low), int(high or low) + 1))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=f"whyflow-{args.part}-", dir="/tmp"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    version = code_version()
    code = None if args.code == "worktree" else export_code(version["head"], workdir.parent)
    print(f"workdir {workdir}; code {code or 'working tree'}; {version}", flush=True)
    with open(args.out, "a") as sink:
        if args.part == "ihdp":
            part_ihdp(replicates, workdir, sink, code)
        elif args.part == "repeat":
            part_repeat(replicates[0], workdir, sink, code)
        else:
            part_dose(replicates, workdir, sink, code)


if __name__ == "__main__":
    main()
