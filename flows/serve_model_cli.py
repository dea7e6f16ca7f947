"""`whyflow serve-model ANALYSIS`: serve a run's propensity, CATE and policy models on MLflow's scoring
protocol (tasks/serve/server.py). Only argparse at import: MLflow and the models load when the command runs."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

__all__ = ["add_serve_model_parser", "DEFAULT_PORT"]

DEFAULT_PORT = 5001


def _keep_cate(models, names: list[str] | None) -> None:
    """Serve only the named CATE models (each costs its own predict call per request); a policy that
    thresholds a model's CATE keeps that model."""
    from tasks.serve.registry import ServedModelNotFound

    if names is None:
        return
    served = [m.name for m in models.cate]
    unknown = [n for n in names if n not in served]
    if unknown:
        raise ServedModelNotFound(f"--cate {unknown[0]!r} is not a CATE model of this run; it serves "
                                  f"{', '.join(served) or 'none'}")
    needed = set(names) | ({models.policy.model} if models.policy is not None and models.policy.model else set())
    models.cate = [m for m in models.cate if m.name in needed]


def _load(found, max_rows: int | None, cate: list[str] | None = None) -> tuple[object, dict]:
    """The served models of a registered version, and what /version answers about them."""
    import mlflow
    import mlflow.pyfunc

    from tasks.serve.model import ServedModels
    from tasks.serve.registry import ServedModelNotFound

    # the model comes from this project's own MLflow store: its pickle is ours (never load one of unknown origin)
    models = mlflow.pyfunc.load_model(found.source).unwrap_python_model().models
    if not isinstance(models, ServedModels):
        raise ServedModelNotFound(f"model version {found.version} of {found.analysis!r} is not a whyflow served model")
    if max_rows is not None:
        models.max_rows = max_rows
    _keep_cate(models, cate)
    models.warm()  # a forest's or meta-learner's answers for the run's distinct feature rows, computed once
    described = models.describe()
    return models, {"analysis": found.analysis, "model_version": found.version, "run_id": found.run_id,
                    "versions": models.versions, "mlflow": mlflow.__version__, "features": described["features"],
                    "outputs": [name for name, _ in models.outputs()], "strata": described["strata"],
                    "propensity_model": described["propensity_model"], "max_rows": models.max_rows,
                    "policy": described["policy"], "server": "whyflow (stdlib ThreadingHTTPServer, orjson)"}


def _watch(server, base_dir: Path, analysis: str, current: int, every: float, max_rows: int | None,
           cate: list[str] | None, stop: threading.Event) -> None:
    """Every `every` seconds: when a newer successful run registered a version, serve it instead."""
    from tasks.serve.registry import find_served_model

    while not stop.wait(every):
        try:
            found = find_served_model(base_dir, analysis)
            if found.version == current:
                continue
            models, version = _load(found, max_rows, cate)
            server.swap(models, version)
            current = found.version
            print(f"now serving {analysis} model version {found.version} (run {found.run_id})", flush=True)
        except Exception as exc:  # the registry is briefly unreachable, a model unreadable: keep serving
            print(f"whyflow: warning: could not check for a newer model: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)


def _cmd_serve_model(args: argparse.Namespace) -> int:
    import signal

    from tasks.serve.server import ScoringServer
    from tasks.serve.registry import ServedModelNotFound, find_served_model
    from whyflow.threads import single_threaded

    base_dir = Path(args.params).resolve().parent
    if not base_dir.is_dir():
        raise ServedModelNotFound(f"--params {args.params!r}: no such project folder")
    if args.watch is not None and (args.run or args.version is not None or args.watch <= 0):
        raise ServedModelNotFound("--watch takes a number of seconds > 0 and serves the latest successful run "
                                  "(not with --run or --version)")
    found = find_served_model(base_dir, args.analysis, run_id=args.run, version=args.version)
    if found.note:
        print(f"whyflow: warning: {found.note}", file=sys.stderr, flush=True)
    cate = [n.strip() for n in args.cate.split(",") if n.strip()] if args.cate is not None else None
    models, version = _load(found, args.max_rows, cate)
    try:
        server = ScoringServer(models, args.host, args.port, version)
    except OSError as exc:
        raise ServedModelNotFound(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = server.address
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    stop = threading.Event()
    if args.watch:
        threading.Thread(target=_watch, args=(server, base_dir, args.analysis, found.version, args.watch,
                                              args.max_rows, cate, stop), daemon=True).start()

    def ready() -> None:
        print(f"serving {found.analysis} model version {found.version} (run {found.run_id}) on http://{host}:{port}: "
              f"POST /invocations, GET /ping /health /version; at most {models.max_rows} rows per request", flush=True)

    try:
        with single_threaded():
            server.serve_forever(ready)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.close()
    return 0


def add_serve_model_parser(commands) -> None:
    """The `serve-model` subcommand (argparse only)."""
    serve = commands.add_parser("serve-model", help="serve a run's propensity, CATE and policy models over HTTP "
                                "(MLflow's scoring protocol: POST /invocations)")
    serve.add_argument("analysis", help="the analysis whose registered model to serve")
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="RUN_ID", help="the MLflow run whose model to serve (default: the latest "
                       "successful run)")
    which.add_argument("--version", type=int, metavar="N", help="the registered model version to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port (default: {DEFAULT_PORT}; 0: any free port)")
    serve.add_argument("--params", default="params.yaml", help="params file of the project (locates MLflow)")
    serve.add_argument("--watch", type=float, metavar="SECONDS",
                       help="check the registry every SECONDS and serve a newer successful run's model when one "
                            "is registered (e.g. after `prefect deployment run analysis/whyflow`)")
    serve.add_argument("--cate", metavar="MODEL[,MODEL]",
                       help="serve only these CATE models of the run (default: all; each costs its own predict "
                            "call per request: EconML's forests and meta-learners take 3-40 ms, the linear ones "
                            "microseconds)")
    serve.add_argument("--max-rows", type=int, metavar="N", help="largest batch accepted per request (default: 10000)")
    serve.set_defaults(handler=_cmd_serve_model)
