"""Estimator validation: bias, RMSE, 95% CI coverage and seconds of every registered estimator on
every simulated data-generating process of data/dgps.py where it applies, over seeded replications.

Estimators come from the registry (`registry.describe()`), so a new one joins the table by being
registered. An estimator that answers "not_applicable" for a DGP (an IV estimator without an
instrument, a back-door one where the graph has a latent confounder) is listed as such, not scored.
Each estimate is compared with the DGP's truth for the estimand it reports (LATE, effect at the
cutoff, ATE, ...). Writes Markdown to bench/results/estimator-validation.md.

With `--nuisance lightgbm,random_forest` every draw is instead analysed the way a user's params.yaml
would be: an AnalysisSpec with `nuisance: {outcome: K, propensity: K}` ("linear" means linear /
logistic, the defaults), its options passed by tasks/estimate.py; one section per DGP and nuisance,
written to bench/results/estimator-validation-flexible-nuisances.md.

    .venv/bin/python bench/estimator_validation.py --replications 150 --slow-replications 40 --workers 1
    .venv/bin/python bench/estimator_validation.py --nuisance linear,lightgbm,random_forest \
        --dgp nonlinear_confounding,weak_overlap --estimators aipw,linear_dml,dr_learner,causal_forest \
        --replications 200 --time-budget 25 --workers 2
"""

from __future__ import annotations

from whyflow.threads import pin_threads

pin_threads()  # before numpy loads: one numeric thread per process, as in the flow

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from data import dgps  # noqa: E402
from estimators import registry  # noqa: E402
from tasks.estimate.effects import estimate_effects  # noqa: E402
from whyflow.parallel import map_processes  # noqa: E402
from whyflow.spec import AnalysisSpec  # noqa: E402

# label -> (generator with its settings, rows); the weak-instrument and continuous-IV variants show
# what the first-stage warning is for and that 2SLS takes a dose.
CASES = {
    "linear_confounding": (dgps.linear_confounding, 2000),
    "nonlinear_confounding": (dgps.nonlinear_confounding, 2000),
    "heterogeneous_effects": (dgps.heterogeneous_effects, 3000),
    "weak_overlap": (dgps.weak_overlap, 2000),
    "continuous_treatment": (dgps.continuous_treatment, 2000),
    "iv_unobserved_confounder": (dgps.instrument_unobserved_confounder, 3000),
    "iv_continuous_treatment": (partial(dgps.instrument_unobserved_confounder, continuous=True), 3000),
    "iv_weak_instrument": (partial(dgps.instrument_unobserved_confounder, strength=0.1), 3000),
    "sharp_discontinuity": (dgps.sharp_discontinuity, 2000),
    "frontdoor_mediator": (dgps.frontdoor_mediator, 2000),
}


NUISANCES = {"linear": ("linear", "logistic"), "lightgbm": ("lightgbm", "lightgbm"),
             "random_forest": ("random_forest", "random_forest")}  # --nuisance K -> spec nuisance (outcome, propensity)


def simulation_spec(sim: dgps.Simulated, nuisance: str, seed: int) -> AnalysisSpec:
    """The spec a user would write for this draw's roles, with `nuisance: {outcome, propensity}` set."""
    roles = {k: v for k, v in sim.roles.items() if k in AnalysisSpec.model_fields}
    outcome, propensity = NUISANCES[nuisance]
    return AnalysisSpec(name=sim.name, base_dir=ROOT, data={"path": f"{sim.name}.parquet"}, seed=seed,
                        nuisance={"outcome": outcome, "propensity": propensity}, **roles)


def _fit(name: str, data, sim: dgps.Simulated, seed: int, nuisance: str | None):
    """One estimator on one draw: built directly (defaults), or through the spec (tasks/estimate.py)."""
    if nuisance is None:
        return registry.get(name)(estimand="ate", seed=seed).fit(data).estimate_
    (est,) = estimate_effects(data, simulation_spec(sim, nuisance, seed), [name])  # records a crash as failed
    if est.status == "failed":
        raise RuntimeError(est.error)
    return est


def run_replication(job: tuple) -> list[dict]:
    """Every estimator on one seeded draw of one DGP (job: case, rows, seed, names[, nuisance])."""
    case, rows, seed, names, nuisance = (*job, None)[:5]
    generator, _ = CASES[case]
    sim = generator(n=rows, seed=seed)
    data = dgps.causal_data(sim)
    out = []
    for name in names:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                est = _fit(name, data, sim, seed, nuisance)
            except Exception as exc:  # a crash is a result too: counted as failed in the table
                out.append({"case": case, "nuisance": nuisance, "estimator": name, "status": "failed",
                            "error": f"{type(exc).__name__}: {exc}"})
                continue
        seconds = time.perf_counter() - started
        truth = sim.truth.get(est.estimand, sim.truth.get("ate"))
        row = {"case": case, "nuisance": nuisance, "estimator": name, "status": est.status, "error": est.error,
               "estimand": est.estimand, "seconds": seconds}
        if est.ok:
            row.update(error_=est.value - truth, covered=bool(est.ci_low <= truth <= est.ci_high),
                       weak=est.details.get("weak_instrument"))  # None: not an IV estimator
            if "anderson_rubin_95" in est.details:
                row["ar_covered"] = _in_ar_set(est.details["anderson_rubin_95"], truth)
        out.append(row)
    return out


def _in_ar_set(ar: dict, value: float) -> bool:
    inside = ar.get("ci_low", math.nan) <= value <= ar.get("ci_high", math.nan)
    return {"interval": inside, "empty": False, "unbounded: the whole line": True}.get(ar["kind"], not inside)


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    keys = dict.fromkeys((r["case"], r.get("nuisance"), r["estimator"]) for r in rows)
    for case, nuisance, name in keys:
        mine = [r for r in rows if r["case"] == case and r.get("nuisance") == nuisance and r["estimator"] == name]
        ok = [r for r in mine if r["status"] == "ok"]
        if not ok:
            table.append({"case": case, "nuisance": nuisance, "estimator": name, "status": mine[0]["status"],
                          "error": mine[0].get("error")})
            continue
        errors = np.array([r["error_"] for r in ok])
        table.append({
            "case": case, "nuisance": nuisance, "estimator": name, "status": "ok", "estimand": ok[0]["estimand"],
            "reps": len(ok),
            "failed": len(mine) - len(ok), "bias": float(errors.mean()),
            "bias_mcse": float(errors.std(ddof=1) / math.sqrt(len(errors))) if len(errors) > 1 else math.nan,
            "median_error": float(np.median(errors)), "rmse": float(np.sqrt(np.mean(errors**2))),
            "coverage": float(np.mean([r["covered"] for r in ok])),
            "seconds": statistics.median(r["seconds"] for r in ok),
            "ar_coverage": float(np.mean([r["ar_covered"] for r in ok])) if "ar_covered" in ok[0] else None,
            "weak_flagged": (float(np.mean([bool(r["weak"]) for r in ok]))
                             if any(r["weak"] is not None for r in ok) else None),
        })
    return table


def markdown(table: list[dict], args: argparse.Namespace, wall: float, loads: tuple, slow: list[str],
             first: int) -> str:
    command = "python bench/estimator_validation.py " + " ".join(sys.argv[1:])
    # replications completed (the budget stops between rounds, so every estimator not marked slow has them all)
    reps = min(max((r["reps"] + r["failed"] for r in table if r["status"] == "ok"), default=0), args.replications)
    margin = 1.96 * math.sqrt(0.95 * 0.05 / max(reps, 1))
    stopped = (f"; the {args.time_budget:g}-minute budget stopped it after {reps} of {args.replications} requested "
               "replications (the reps column counts those completed)" if reps < args.replications else "")
    title = ("Estimator validation with flexible nuisance models (spec `nuisance`)" if args.nuisance
             else "Estimator validation on simulated data with known truth")
    lines = [
        f"# {title}",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: 2 cores, 24 GiB, no GPU ({platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, one numeric thread per process, LightGBM n_jobs=1); other work shared the CPU",
        f"- command: `{command}`",
        f"- {reps} replications per DGP (seeds from numpy SeedSequence({args.seed})), "
        f"{args.workers} worker process(es), total wall time {wall / 60:.1f} min{stopped}; load average before "
        f"{loads[0]}, after {loads[1]}",
    ]
    if args.nuisance:
        lines.append("- nuisances: each draw is analysed through an AnalysisSpec with "
                     "`nuisance: {outcome, propensity}` and tasks/estimate.estimate_effects, as a params.yaml "
                     "would be; `linear` is the default linear outcome / logistic propensity, settings of the "
                     "others in estimators/nuisance.py")
    else:
        lines.append(f"- slow estimators (median fit > {args.slow_seconds} s in the first replications), run on the "
                     f"first {first} replications only: {', '.join(slow) or 'none'}")
    lines += [
        f"- coverage: share of replications whose 95% CI holds the truth; with {reps} replications "
        f"a true 95% coverage is observed within +-{margin:.3f} (95% binomial margin)"
        + ("" if args.nuisance else f", with {first} within +-{1.96 * math.sqrt(0.95 * 0.05 / first):.3f}")
        + ". Bias: mean error, with its Monte-Carlo standard error; "
        "with a weak instrument 2SLS has no finite mean, so read the median error. RMSE: root mean squared error. "
        "Seconds: median per fit.",
        "- the truth each estimate is scored against is the one for the estimand the estimator reports "
        "(LATE for IV with a binary instrument and treatment, the effect at the cutoff for RD, else the ATE).",
        "",
    ]
    for case in args.cases:
        for nuisance in args.nuisance or [None]:
            lines += _section(case, nuisance, [r for r in table if r["case"] == case and r.get("nuisance") == nuisance],
                              args.rows)
    return "\n".join(lines) + "\n"


def _section(case: str, nuisance: str | None, mine: list[dict], rows_override: int | None) -> list[str]:
    generator, rows = CASES[case]
    doc = (getattr(generator, "func", generator).__doc__ or "").strip().splitlines()[0]
    settings = getattr(generator, "keywords", None)
    heading = f"## {case} ({rows_override or rows:,} rows{', ' + str(settings) if settings else ''})"
    if nuisance is not None:
        heading += " - nuisance: {outcome: %s, propensity: %s}" % NUISANCES[nuisance]
    lines = [heading, "", doc, "",
             "| estimator | estimand | reps | bias (MC se) | median error | RMSE | coverage | median s "
             "| weak-IV flagged |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in (r for r in mine if r["status"] == "ok"):
        reps = f"{r['reps']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        weak = "-" if r["weak_flagged"] is None else f"{r['weak_flagged']:.2f}"
        lines.append(f"| {r['estimator']} | {r['estimand']} | {reps} | {r['bias']:+.4f} ({r['bias_mcse']:.4f}) | "
                     f"{r['median_error']:+.4f} | {r['rmse']:.4f} | {r['coverage']:.3f} | {r['seconds']:.3f} "
                     f"| {weak} |")
    skipped = [r for r in mine if r["status"] != "ok"]
    for r in (r for r in mine if r.get("ar_coverage") is not None):
        lines += ["", f"{r['estimator']}: the Anderson-Rubin 95% set (valid with weak instruments) held the truth "
                      f"in {r['ar_coverage']:.3f} of {r['reps']} replications."]
    reasons: dict[str, list[str]] = {}
    for r in skipped:  # "ipw adjusts for ..." and "aipw adjusts for ..." share one line
        reason = str(r["error"]).removeprefix(r["estimator"]).lstrip(" :")
        reasons.setdefault(f"{r['status']}: {reason}", []).append(r["estimator"])
    for reason, names in reasons.items():
        lines += ["", f"Not scored ({', '.join(names)}): {reason}"]
    lines.append("")
    return lines


def _listed(values: list[str] | None) -> list[str] | None:
    """`a,b c` -> [a, b, c]: lists may be given comma- or space-separated."""
    return [v for value in values for v in value.split(",") if v] if values else None


def run_jobs(jobs: list[tuple], workers: int, deadline: float | None, chunk: int) -> list[dict]:
    """The jobs in rounds of `chunk`; no new round starts after `deadline` (perf_counter seconds)."""
    rows: list[dict] = []
    for start in range(0, len(jobs), chunk):
        if deadline is not None and time.perf_counter() > deadline:
            break
        rows += [row for batch in map_processes(run_replication, jobs[start:start + chunk], workers) for row in batch]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--slow-replications", type=int, help="replications for slow estimators (default: all)")
    parser.add_argument("--slow-seconds", type=float, default=0.6,
                        help="an estimator is slow when its median fit in the first replications takes longer "
                             "(wall seconds: CPU time misses the worker processes some EconML models start)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--cases", "--dgp", nargs="*", default=list(CASES),
                        help=f"DGPs, comma- or space-separated: {', '.join(CASES)}")
    parser.add_argument("--estimators", nargs="*", help="comma- or space-separated; default: every registered one")
    parser.add_argument("--nuisance", nargs="*",
                        help=f"run through the spec with these nuisance choices ({', '.join(NUISANCES)}); "
                             "every estimator runs on every replication")
    parser.add_argument("--rows", type=int, help="rows per draw for every DGP (default: each DGP's own)")
    parser.add_argument("--time-budget", type=float, help="minutes; no new round of replications starts after it")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    args.cases, args.nuisance = _listed(args.cases), _listed(args.nuisance)
    for case in args.cases:
        if case not in CASES:
            parser.error(f"--dgp {case!r} must be one of {', '.join(CASES)}")
    for kind in args.nuisance or []:
        if kind not in NUISANCES:
            parser.error(f"--nuisance {kind!r} must be one of {', '.join(NUISANCES)}")
    name = "estimator-validation-flexible-nuisances.md" if args.nuisance else "estimator-validation.md"
    args.out = args.out or ROOT / "bench" / "results" / name
    names = _listed(args.estimators) or [row["name"] for row in registry.describe()]
    seeds = [int(s) for s in np.random.SeedSequence(args.seed).generate_state(args.replications)]
    first = args.replications if args.nuisance else min(args.slow_replications or args.replications,
                                                        args.replications)
    variants = args.nuisance or [None]
    for case in args.cases:  # imports (EconML, LightGBM, rdrobust) and first calls out of the timings
        for nuisance in variants:
            run_replication((case, 400, 0, names, nuisance))
    before = os.getloadavg()
    started = time.perf_counter()
    deadline = started + 60 * args.time_budget if args.time_budget else None
    chunk = max(1, 2 * args.workers) * len(args.cases) * len(variants)  # a few seeds per round

    def jobs(seeds_: list[int], names_: list[str]) -> list[tuple]:
        return [(case, args.rows or CASES[case][1], seed, names_, nuisance)
                for seed in seeds_ for case in args.cases for nuisance in variants]

    # Every estimator runs on the first seeds; the slow ones (meta-learners with bootstrap, forests)
    # stop there, so the fast ones can afford enough replications for a sharp coverage estimate.
    rows = run_jobs(jobs(seeds[:first], names), args.workers, deadline, chunk)
    timed = [r for r in rows if r["status"] == "ok"]
    slow = sorted({r["estimator"] for r in timed} - {
        n for n in names if statistics.median([r["seconds"] for r in timed if r["estimator"] == n] or [0.0])
        <= args.slow_seconds})
    fast = [n for n in names if n not in slow]
    rows += run_jobs(jobs(seeds[first:], fast), args.workers, deadline, chunk)
    wall = time.perf_counter() - started
    loads = (" ".join(f"{x:.2f}" for x in before), " ".join(f"{x:.2f}" for x in os.getloadavg()))
    text = markdown(summarise(rows), args, wall, loads, slow, first)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
