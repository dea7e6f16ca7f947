"""Recording a run: versions, MLflow, results files, and reproduction of a logged run."""
