"""Every step of the analysis flows as a Prefect task: a thin wrapper over a plain function in tasks/.

One policy for all of them: frames travel in memory, so nothing is cached by input hash (hashing a
frame would cost more than most steps), and only the steps that talk to MLflow or a DVC remote retry,
and only on transient errors (flows/retry.py).
"""

from __future__ import annotations


from flows.retry import step
from tasks import plan
from tasks.data import prepare, quality, snapshot, validate
from tasks.decide.step import decide_for_run
from tasks.mediation.step import mediate_for_run
from tasks.estimate import agreement, effects, nuisance_choice
from tasks.evidence import overlap, refute, sensitivity
from tasks.graph import implications
from tasks.graph.model import load_graph
from tasks.identify.effect import identify_effect
from tasks.record import run as record
from tasks.scale import quality as stream_quality
from tasks.scale.source import open_source
from whyflow.errors import GateFailed
from whyflow.spec import load_spec

__all__ = ["load_spec_t", "preflight_t", "load_graph_t", "read_source_t", "validate_t", "prepare_t", "identify_t", "plan_t",
           "snapshot_file_t", "versions_t", "start_tracking_t", "quality_t", "graph_tests_t", "causal_data_t",
           "overlap_t", "nuisance_t", "estimate_t", "naive_t", "cate_t", "agreement_t", "refute_t", "decision_t", "mediation_t", "sensitivity_t",
           "record_failure_t", "record_t", "open_dataset_t", "sql_to_parquet_t", "snapshot_dataset_t", "scan_t",
           "stream_quality_t", "estimate_streamed_t", "stop_at_gate"]


load_spec_t = step(load_spec, "spec")
preflight_t = step(plan.preflight, "preflight")
load_graph_t = step(load_graph, "graph")
read_source_t = step(snapshot.read_source, "read-source")
validate_t = step(validate.validate_inputs, "validate-inputs")
prepare_t = step(prepare.prepare_data, "prepare-data")
identify_t = step(identify_effect, "identify")
plan_t = step(plan.plan_analysis, "plan")
snapshot_file_t = step(snapshot.snapshot_file, "snapshot-file")
versions_t = step(record.run_versions, "versions")
start_tracking_t = step(record.start_tracking, "start-tracking", io=True)
quality_t = step(quality.check_quality, "quality")
graph_tests_t = step(implications.check_implications, "graph-tests")
causal_data_t = step(effects.causal_data, "design")
overlap_t = step(overlap.check_overlap, "overlap")
nuisance_t = step(nuisance_choice.choose_nuisance, "choose-nuisance")
estimate_t = step(effects.estimate_effects, "estimate")
naive_t = step(effects.naive_difference, "naive-difference")
cate_t = step(effects.cate_by_segment, "cate-by-segment")
agreement_t = step(agreement.estimator_agreement, "agreement")
refute_t = step(refute.refute_estimates, "refute")
decision_t = step(decide_for_run, "decision")
mediation_t = step(mediate_for_run, "mediation")
sensitivity_t = step(sensitivity.analyse_sensitivity, "sensitivity")
record_failure_t = step(record.record_failure, "record-failure", io=True)
record_t = step(record.record_run, "record", io=True)

# the streamed path (flows/stream_analysis.py)
open_dataset_t = step(open_source, "open-dataset")
sql_to_parquet_t = step(snapshot.write_sql_dataset, "sql-to-parquet")
snapshot_dataset_t = step(snapshot.snapshot_dataset, "snapshot-dataset", io=True)
scan_t = step(stream_quality.scan_source, "quality-scan")
stream_quality_t = step(stream_quality.check_stream_quality, "quality")
estimate_streamed_t = step(effects.estimate_streamed, "estimate")


def stop_at_gate(spec, run_id: str, partial: dict, reason: str) -> None:
    """A failed gate: keep the evidence gathered so far in the MLflow run (with retries), then stop
    (exit 3). Both flows stop this way."""
    record_failure_t(spec, run_id, partial)
    raise GateFailed(reason)
