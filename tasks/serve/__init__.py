"""Online scoring of a run: its propensity, CATE and policy models as one MLflow pyfunc (model.py),
built from the run's snapshot and result (build.py), logged and registered under the analysis name
(log.py), found again in the registry (registry.py) and served on MLflow's scoring protocol by a lean
HTTP server (server.py). Importing the package stays light: MLflow loads where a model is built or served."""

from tasks.serve.encode import ColumnCode, FeatureEncoder, RequestError
from tasks.serve.log import log_served_models

__all__ = ["log_served_models", "FeatureEncoder", "ColumnCode", "RequestError"]
