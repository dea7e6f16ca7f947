"""`whyflow serve-model`'s argument handling, without a server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flows.cli import _parser
from flows.serve_model_cli import _keep_cate
from tasks.serve.registry import ServedModelNotFound


def _models(policy_model: str | None = None):
    cate = [SimpleNamespace(name=n) for n in ("linear_dml", "causal_forest", "x_learner")]
    return SimpleNamespace(cate=cate, policy=SimpleNamespace(model=policy_model) if policy_model else None)


def test_parser_knows_serve_model_and_its_options():
    args = _parser().parse_args(["serve-model", "coupon_618", "--version", "3", "--port", "0", "--cate", "linear_dml"])
    assert (args.analysis, args.version, args.port, args.cate, args.run) == ("coupon_618", 3, 0, "linear_dml", None)
    with pytest.raises(SystemExit):  # --run and --version exclude each other
        _parser().parse_args(["serve-model", "coupon_618", "--version", "3", "--run", "abc"])


def test_cate_keeps_the_named_models_and_the_one_the_policy_thresholds():
    models = _models()
    _keep_cate(models, ["linear_dml"])
    assert [m.name for m in models.cate] == ["linear_dml"]
    models = _models(policy_model="x_learner")
    _keep_cate(models, ["linear_dml"])
    assert [m.name for m in models.cate] == ["linear_dml", "x_learner"]
    with pytest.raises(ServedModelNotFound, match="'forest' is not a CATE model of this run; it serves linear_dml"):
        _keep_cate(_models(), ["forest"])
