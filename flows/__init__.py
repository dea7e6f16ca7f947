"""Prefect flows and the whyflow CLI; the only package that knows Prefect exists."""
