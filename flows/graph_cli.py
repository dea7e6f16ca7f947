"""`whyflow graph ...`: inspect, compare, draw, check, identify and test causal graphs from the shell.

Only argparse is imported here, so registering these commands keeps `whyflow --help` instant; each
command imports its task module when it runs. Bad input raises a WhyflowError (exit 2 in main()).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_graph_parser"]

_SHORT = 12  # characters of the sha256 shown in text output


def _read_data(path: str):
    from tasks.data.snapshot import read_table

    return read_table(Path(path), f"data file {path!r}")


def _graph(path: str, data=None, **roles):
    from tasks.graph.model import check_columns, check_roles, read_graph_file

    graph = check_roles(read_graph_file(path), **roles)
    return graph if data is None else check_columns(graph, list(data.columns))


def _emit(payload: dict) -> int:
    from tasks.record.files import to_jsonable

    print(json.dumps(to_jsonable(payload), indent=2))
    return 0


def _braces(names) -> str:
    return "{" + ", ".join(names) + "}"


def _cmd_show(args: argparse.Namespace) -> int:
    graph = _graph(args.file)
    if args.json:
        return _emit({"graph": graph.source, "sha256": graph.sha256, "observed": graph.observed, "latent": graph.latent,
                      "edges": sorted(graph.dag.edges)})
    print(f"graph {graph.source}  version {graph.sha256}")
    print(f"nodes ({graph.dag.number_of_nodes()}, {len(graph.latent)} latent):")
    for node in sorted(graph.dag.nodes):
        print(f"  {node}{'  [latent]' if node in graph.latent else ''}")
    print(f"edges ({graph.dag.number_of_edges()}):")
    for a, b in sorted(graph.dag.edges):
        print(f"  {a} -> {b}{'  (latent)' if a in graph.latent or b in graph.latent else ''}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    data = _read_data(args.data) if args.data else None
    graph = _graph(args.file, data, treatment=args.treatment, outcome=args.outcome)
    checks = ["parsed", "acyclic", "node attributes known"]
    checks += ["treatment and outcome observed nodes"] if args.treatment or args.outcome else []
    checks += [f"observed nodes are columns of {args.data}"] if data is not None else []
    print(f"ok: {graph.source}: {graph.dag.number_of_nodes()} nodes ({len(graph.latent)} latent), "
          f"{graph.dag.number_of_edges()} edges, version {graph.sha256[:_SHORT]}; {', '.join(checks)}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from tasks.graph.diff import diff_graphs, read_graph_ref
    from whyflow.errors import GraphError

    revision_in_name = "@" in args.old and not Path(args.old).is_file()
    if args.new is None and args.rev is None and not revision_in_name:
        raise GraphError("graph diff needs two versions: OLD NEW, PATH@REV [NEW], or FILE --rev REV")
    old = read_graph_ref(args.old, args.rev)
    work_tree = args.old.rpartition("@")[0] if revision_in_name and args.rev is None else args.old
    new = read_graph_ref(args.new if args.new is not None else work_tree)
    change = diff_graphs(old, new)
    if args.json:
        return _emit(change.to_json())
    print(f"--- {change.old}  {change.old_sha256[:_SHORT]}")
    print(f"+++ {change.new}  {change.new_sha256[:_SHORT]}")
    if change.same:
        print("same graph (formatting and order aside)")
        return 0
    latent = set(new.latent) | set(old.latent)
    mark = (lambda n: f"{n} [latent]" if n in latent else n)
    lines = ([f"+ node {mark(n)}" for n in change.added_nodes] + [f"- node {mark(n)}" for n in change.removed_nodes]
             + [f"~ {n} became latent" for n in change.became_latent]
             + [f"~ {n} became observed" for n in change.became_observed]
             + [f"+ {a} -> {b}" for a, b in change.added_edges] + [f"- {a} -> {b}" for a, b in change.removed_edges]
             + [f"~ {a} -> {b} reversed" for a, b in change.reversed_edges])
    print("\n".join(lines))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from tasks.graph.render import render_graph

    path, engine = render_graph(_graph(args.file), args.output, args.treatment, args.outcome, args.engine)
    print(f"wrote {path} ({engine})")
    return 0


def _print_report(report) -> None:
    print(f"effect of {report.treatment} on {report.outcome} in {report.graph}  (version {report.graph_sha256[:_SHORT]}"
          + (f"; latent: {', '.join(report.latent)})" if report.latent else ")"))
    for strategy in report.strategies:
        verdict = "identified" if strategy.identified else "not identified"
        print(f"\n{strategy.name}: {verdict}" + (f" by {_braces(strategy.variables)}" if strategy.variables else ""))
        print(f"  {strategy.note}")
        if strategy.identified:
            print("  assumes:")
            print("\n".join(f"    - {text}" for text in strategy.assumptions))
    if report.backdoor_all_observed is None:
        blocked = (f"latent {', '.join(report.backdoor_blocked_by)} blocks the back door"
                   if report.backdoor_blocked_by else "the back door cannot be closed with observed variables")
        remaining = ", ".join(report.remaining) or ("none (an instrument, a mediator that carries the whole effect, "
                                                    "or a running variable would restore identification)")
        print(f"\n{blocked}; strategies that remain: {remaining}")
    print(f"\nsearched in {report.seconds:.3f} s")


def _set_aside_typos(report, graph):
    """Without data, an instrument whose name is one slip from another node's is likely a misspelt
    node (it points only into the treatment): warn and do not report it as an instrument."""
    import sys

    from tasks.identify.report import without_instruments
    from tasks.identify.typos import typo_suspects

    suspects = typo_suspects(graph.dag)
    doubtful = [i.name for i in report.instruments if i.name in suspects]
    for name in doubtful:
        print(f"warning: graph node {name!r} looks like a typo of {suspects[name]!r}; not reported as an instrument "
              f"(rename it, or check the nodes against data: whyflow graph check FILE --data DATA)", file=sys.stderr)
    return without_instruments(report, doubtful) if doubtful else report


def _cmd_identify(args: argparse.Namespace) -> int:
    from tasks.identify.report import identification_report

    graph = _graph(args.file)
    report = identification_report(graph, args.treatment, args.outcome, args.running_variable, args.cutoff)
    report = _set_aside_typos(report, graph)
    if args.json:
        return _emit(report.to_json())
    _print_report(report)
    return 0


def _cmd_ivs(args: argparse.Namespace) -> int:
    from tasks.identify.report import identification_report

    data = _read_data(args.data) if args.data else None
    graph = _graph(args.file, data)
    report = identification_report(graph, args.treatment, args.outcome)
    if data is None:
        report = _set_aside_typos(report, graph)
        rows = [{"name": i.name, "conditioning": list(i.conditioning), "parent": i.parent} for i in report.instruments]
        if args.json:
            return _emit({"instruments": rows})
        for row in rows:
            given = f" given {_braces(row['conditioning'])}" if row["conditioning"] else ""
            print(f"{row['name']}{given}{'' if row['parent'] else '  (an indirect cause of the treatment)'}")
        hint = "; add --data to rank them by first-stage F" if rows else ""
        print(f"{len(rows)} instrument(s) in the graph{hint}")
        return 0
    from tasks.identify.instruments import WEAK_F, rank_instruments

    ranked = rank_instruments(report, data)
    if args.json:
        return _emit({"instruments": [r.to_json() for r in ranked], "weak_f": WEAK_F})
    print(f"{'instrument':<24} {'first-stage F':>14} {'partial R2':>11} {'n':>9}  controls")
    for r in ranked:
        f = "-" if r.f_statistic is None else f"{r.f_statistic:.4g}"
        r2 = "-" if r.partial_r2 is None else f"{r.partial_r2:.3g}"
        print(f"{r.name:<24} {f:>14} {r2:>11} {r.n:>9,}  {_braces(r.controls)}{'  WEAK (F < 10)' if r.weak else ''}")
    print(f"{len(ranked)} instrument(s)" + (f"; {sum(r.weak for r in ranked)} weak" if ranked else " in the graph"))
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from tasks.graph.implications import run_graph_tests

    data = _read_data(args.data)
    report = run_graph_tests(_graph(args.file, data), data, seed=args.seed, method=args.method, alpha=args.alpha,
                             random_graphs=args.random_graphs, rows=args.rows, categorical=tuple(args.categorical))
    if args.json:
        return _emit(report.to_json())
    for r in report.implications:
        verdict = "untestable" if r.violated is None else ("VIOLATED" if r.violated else "ok")
        p = "-" if r.p_value is None else f"{r.p_value:.3g}"
        print(f"{r.x} _||_ {r.y} | {_braces(r.given)}  p={p}  {verdict}")
    for a, b in report.untestable_pairs:
        print(f"{a} and {b}: only sets with latent variables separate them; no testable implication")
    share = "-" if report.violated_share is None else f"{report.violated_share:.3f}"
    random = "-" if report.random_violated_share is None else f"{report.random_violated_share:.3f}"
    p = "-" if report.p_value is None else f"{report.p_value:.3g}"
    print(f"{report.violated} of {report.implied} implied independences violated at alpha {report.alpha:g} "
          f"(share {share}); {report.random_graphs} random graphs of the same size: mean share {random}; "
          f"p-value {p} ({report.method} test, {report.rows:,} of {report.rows_total:,} rows, seed {report.seed})")
    return 0


def _cmd_suggest(args: argparse.Namespace) -> int:
    from tasks.structure import parse_tiers, structure_knowledge, suggest_structure

    data = _read_data(args.data)
    graph = _graph(args.file, data, treatment=args.treatment, outcome=args.outcome)
    knowledge = structure_knowledge(graph, forbid=args.forbid, require=args.require,
                                    tiers=parse_tiers(args.tiers) if args.tiers else None,
                                    treatment=args.treatment, outcome=args.outcome)
    found = suggest_structure(graph, data, seed=args.seed, method=args.method, alpha=args.alpha, rows=args.rows,
                              categorical=tuple(args.categorical), knowledge=knowledge)
    if args.json:
        return _emit(found.to_json())
    name = "PC (causal-learn)" if found.method == "pc" else "NOTEARS (linear)"
    setting = f"alpha {found.alpha:g}" if found.method == "pc" else f"lambda1 {found.details['lambda1']:g}, " \
                                                                     f"threshold {found.details['threshold']:g}"
    print(f"{name} on {found.rows:,} rows, {setting}, seed {found.seed}: advisory only, your graph is unchanged")
    if knowledge.tiers:
        print(f"tiers ({knowledge.source}): " + " < ".join(_braces(t) for t in knowledge.tiers))
    removed = "independent given {}" if found.method == "pc" else "NOTEARS finds no edge"
    lines = ([f"+ {a} {kind} {b}   (dependent given every subset of neighbours)" if found.method == "pc"
              else f"+ {a} {kind} {b}   (weight {found.details['weights'][f'{a}->{b}']:.2f})"
              for a, b, kind in found.add]
             + [f"- {a} -> {b}   ({removed.format(_braces(given))})" for a, b, given in found.remove]
             + [f"~ {a} -> {b}   ({found.method.upper()} orients it {b} -> {a})" for a, b in found.reverse]
             + [f"! {edge}   (required; {found.method.upper()} did not find it, added)"
                for edge in found.required_added])
    print("\n".join(lines) if lines else "the data suggests no change")
    print(f"{found.agree} edge(s) of your graph found by {found.method.upper()}; {len(found.add)} to consider adding, "
          f"{len(found.remove)} removing, {len(found.reverse)} reversing")
    return 0


def _pinned(handler):
    """Run a command with one numeric thread per process (whyflow/threads.py), set before numpy loads."""
    def run(args: argparse.Namespace) -> int:
        from whyflow.threads import pin_threads

        pin_threads()
        return handler(args)

    return run


def _roles(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--treatment", required=required, help="treatment node")
    parser.add_argument("--outcome", required=required, help="outcome node")


def add_graph_parser(commands) -> None:
    """Register `whyflow graph SUBCOMMAND` on the CLI's subparsers."""
    graph = commands.add_parser("graph", help="inspect, compare, draw, check, identify and test causal graphs",
                                description="Causal graphs (DOT or GML; latent nodes as [latent=true]).")
    sub = graph.add_subparsers(dest="graph_command", required=True, metavar="SUBCOMMAND")
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="machine-readable output")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--seed", type=int, default=42, help="seed of the subsample and random graphs (default 42)")
    data.add_argument("--categorical", nargs="*", default=[], metavar="COLUMN",
                      help="numeric columns to treat as categorical (text columns always are)")

    show = sub.add_parser("show", parents=[json_flag], help="nodes (latent marked), edges and the graph version")
    show.add_argument("file")
    show.set_defaults(handler=_pinned(_cmd_show))

    check = sub.add_parser("check", help="validate: parses, acyclic, known attributes, roles, nodes vs data columns")
    check.add_argument("file")
    check.add_argument("--data", help="Parquet/CSV file whose columns must hold every observed node")
    _roles(check, required=False)
    check.set_defaults(handler=_pinned(_cmd_check))

    diff = sub.add_parser("diff", parents=[json_flag], help="edges and latent nodes added or removed between versions",
                          epilog="versions: two files (OLD NEW); a file at a git revision as PATH@REV "
                                 "(e.g. data/graphs/coupon_618.dot@HEAD~1); or FILE --rev REV, which compares "
                                 "FILE at REV with FILE in the work tree")
    diff.add_argument("old", help="old graph: PATH or PATH@REV")
    diff.add_argument("new", nargs="?", help="new graph: PATH or PATH@REV (default: OLD in the work tree)")
    diff.add_argument("--rev", help="git revision of OLD (HEAD~1, a tag, a commit)")
    diff.set_defaults(handler=_pinned(_cmd_diff))

    render = sub.add_parser("render", help="draw PNG/SVG/PDF: latent dashed, treatment and outcome highlighted")
    render.add_argument("file")
    render.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")
    render.add_argument("--engine", choices=["auto", "graphviz", "matplotlib"], default="auto",
                        help="auto: Graphviz `dot` when on PATH, else matplotlib")
    _roles(render, required=False)
    render.set_defaults(handler=_pinned(_cmd_render))

    identify = sub.add_parser("identify", parents=[json_flag],
                              help="identification report: back-door, front-door, instruments, RDD, assumptions")
    identify.add_argument("file")
    _roles(identify, required=True)
    identify.add_argument("--running-variable", help="declared running variable of a regression discontinuity")
    identify.add_argument("--cutoff", type=float, help="its cutoff")
    identify.set_defaults(handler=_pinned(_cmd_identify))

    ivs = sub.add_parser("ivs", parents=[json_flag], help="instruments in the graph, ranked by first-stage F on data")
    ivs.add_argument("file")
    _roles(ivs, required=True)
    ivs.add_argument("--data", help="Parquet/CSV file to measure first-stage strength on")
    ivs.set_defaults(handler=_pinned(_cmd_ivs))

    test = sub.add_parser("test", parents=[json_flag, data],
                          help="test the graph's implied independences on data, against random graphs")
    test.add_argument("file")
    test.add_argument("--data", required=True, help="Parquet/CSV file")
    test.add_argument("--method", choices=["linear", "kci"], default="linear",
                      help="linear: partial correlation (Fisher z); kci: causal-learn's kernel CI test (nonparametric)")
    test.add_argument("--alpha", type=float, default=0.05, help="significance level per test (default 0.05)")
    test.add_argument("--random-graphs", type=int, help="random DAGs to compare with (default 100 linear, 20 kci)")
    test.add_argument("--rows", type=int, help="subsample size (default: 200,000 linear, 500 kci)")
    test.set_defaults(handler=_pinned(_cmd_test))

    suggest = sub.add_parser("suggest", parents=[json_flag, data],
                             help="edges the data suggests adding, removing or reversing (PC or NOTEARS; advisory)",
                             epilog="constraints: --forbid A->B and --require A->B (repeatable), --tiers \"a,b;c;d\" "
                                    "(a later tier never causes an earlier one). With --treatment and --outcome and "
                                    "no --tiers, tiers come from the graph: before the treatment < treatment < after "
                                    "it < outcome.")
    suggest.add_argument("file")
    suggest.add_argument("--data", required=True, help="Parquet/CSV file")
    suggest.add_argument("--method", choices=["pc", "notears"], default="pc",
                         help="pc: causal-learn's PC with the linear CI test; notears: linear NOTEARS (default pc)")
    suggest.add_argument("--alpha", type=float, default=0.01, help="PC's significance level (default 0.01)")
    suggest.add_argument("--rows", type=int, default=5000, help="seeded subsample size (default 5,000)")
    suggest.add_argument("--forbid", action="extend", nargs="+", default=[], metavar="A->B",
                         help="edges that must not appear")
    suggest.add_argument("--require", action="extend", nargs="+", default=[], metavar="A->B",
                         help="edges that must appear")
    suggest.add_argument("--tiers", metavar="\"a,b;c;d\"", help="causal order of groups of nodes")
    _roles(suggest, required=False)
    suggest.set_defaults(handler=_pinned(_cmd_suggest))
