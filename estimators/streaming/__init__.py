"""Streaming estimators: exact out-of-core passes over blocks, behind the estimator contract."""
