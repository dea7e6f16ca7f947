"""One exception hierarchy; the CLI maps each class to an exit code in one place."""

from whyflow.constants import EXIT_BAD_INPUT, EXIT_GATE, EXIT_INTERNAL, EXIT_MISMATCH

__all__ = [
    "WhyflowError",
    "SpecError",
    "DataError",
    "GraphError",
    "IdentificationError",
    "GateFailed",
    "ReproductionError",
    "ReproductionMismatch",
]


class WhyflowError(Exception):
    """Base of every error whyflow raises on purpose; the message is one line for the user."""

    exit_code = EXIT_INTERNAL


class SpecError(WhyflowError):
    """params.yaml or a --set override is invalid."""

    exit_code = EXIT_BAD_INPUT


class DataError(WhyflowError):
    """The data source is missing, unreadable or does not fit the spec."""

    exit_code = EXIT_BAD_INPUT


class GraphError(WhyflowError):
    """The causal graph is unreadable, cyclic or does not fit the data."""

    exit_code = EXIT_BAD_INPUT


class IdentificationError(WhyflowError):
    """The graph does not identify the effect by any strategy whyflow can estimate."""

    exit_code = EXIT_BAD_INPUT


class GateFailed(WhyflowError):
    """A quality or overlap gate failed; the MLflow run is kept with status FAILED."""

    exit_code = EXIT_GATE

    def __init__(self, message: str, run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id


class ReproductionError(WhyflowError):
    """A logged run cannot be reproduced here: unknown run or commit, missing or altered snapshot."""

    exit_code = EXIT_BAD_INPUT


class ReproductionMismatch(WhyflowError):
    """The reproduction ran, and some metric or version differs from the original run."""

    exit_code = EXIT_MISMATCH
