"""Names fixed by shared/DESIGN.md: MLflow tags and metric keys, result files, exit codes."""

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_BAD_INPUT",
    "EXIT_GATE",
    "EXIT_MISMATCH",
    "EXIT_ALERT",
    "TAG_MONITOR_ALERT",
    "TAG_COMPARES",
    "TAG_ANALYSIS",
    "TAG_DATA_MD5",
    "TAG_DATA_PATH",
    "TAG_GRAPH_SHA",
    "TAG_PARAMS_SHA",
    "TAG_GIT_COMMIT",
    "TAG_GIT_DIRTY",
    "TAG_ENV_SHA",
    "TAG_SEED",
    "TAG_FAILURE",
    "TAG_WARNINGS",
    "TAG_REPRODUCES",
    "VERSION_TAGS",
    "RESULT_FILES",
    "METRIC_GRAPH_IMPLIED",
    "METRIC_GRAPH_VIOLATED",
    "METRIC_GRAPH_RANDOM_VIOLATED",
    "METRIC_GRAPH_P_VALUE",
    "DEFAULT_TRACKING_DB",
    "DEFAULT_ARTIFACT_DIR",
]

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_GATE = 3
EXIT_MISMATCH = 4
EXIT_ALERT = 5  # `whyflow monitor`: a monitored analysis crossed a threshold

TAG_ANALYSIS = "whyflow.analysis"
TAG_DATA_MD5 = "whyflow.data.md5"
TAG_DATA_PATH = "whyflow.data.path"
TAG_GRAPH_SHA = "whyflow.graph.sha256"
TAG_PARAMS_SHA = "whyflow.params.sha256"
TAG_GIT_COMMIT = "whyflow.git.commit"
TAG_GIT_DIRTY = "whyflow.git.dirty"
TAG_ENV_SHA = "whyflow.env.sha256"
TAG_SEED = "whyflow.seed"
TAG_FAILURE = "whyflow.failure"
TAG_WARNINGS = "whyflow.warnings"  # gates left at their defaults that failed: the run went on
TAG_REPRODUCES = "whyflow.reproduces"
TAG_COMPARES = "whyflow.compares"  # "<run A>,<run B>" on a `whyflow compare` run
TAG_MONITOR_ALERT = "whyflow.monitor.alert"  # set by the monitor flow on the run that alerted

# The version tags, keyed by the name they carry in results/<analysis>/estimates.json "versions".
VERSION_TAGS = {
    "analysis": TAG_ANALYSIS,
    "data_md5": TAG_DATA_MD5,
    "data_path": TAG_DATA_PATH,
    "graph_sha256": TAG_GRAPH_SHA,
    "params_sha256": TAG_PARAMS_SHA,
    "git_commit": TAG_GIT_COMMIT,
    "git_dirty": TAG_GIT_DIRTY,
    "env_sha256": TAG_ENV_SHA,
    "seed": TAG_SEED,
}



RESULT_FILES = {
    "estimates": "estimates.json",
    "quality": "quality.json",
    "overlap": "overlap.json",
    "identification": "identification.json",
    "refutation": "refutation.json",
    "sensitivity": "sensitivity.json",
    "graph_tests": "graph_tests.json",
    "agreement": "agreement.json",
    "decision": "decision.json",
    "policy": "policy.parquet",
    "unit_effects": "unit_effects.parquet",
    "mediation": "mediation.json",
    "dose_response": "dose_response.json",
}

# The graph tested against the data (tasks/graph_tests.py).
METRIC_GRAPH_IMPLIED = "graph.implied_independences"
METRIC_GRAPH_VIOLATED = "graph.violated_share"
METRIC_GRAPH_RANDOM_VIOLATED = "graph.random_violated_share"
METRIC_GRAPH_P_VALUE = "graph.random_p_value"

DEFAULT_TRACKING_DB = "mlflow.db"
DEFAULT_ARTIFACT_DIR = "mlartifacts"
