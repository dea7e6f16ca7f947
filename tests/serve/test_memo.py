"""A served CATE model without a closed form remembers each distinct feature row's answer: the same
answers as asking the model, rows in any order and batch, bounded in size."""

from __future__ import annotations

import numpy as np

from estimators.base import CausalData
from tasks.serve import model as served


class Rowwise:
    """A CATE model whose effect at a row depends on that row only; counts the rows it is asked for."""

    def __init__(self):
        self.asked = 0

    def features(self, data):
        return data.X

    def effect(self, X):
        self.asked += len(X)
        return X @ np.array([2.0, -1.0]) + np.sin(X[:, 0])


def _data(X):
    return CausalData(Y=np.zeros(len(X)), T=np.zeros(len(X)), covariates=X, X=X, covariate_names=["a", "b"],
                      x_names=["a", "b"])


def test_remembered_answers_equal_the_models_and_are_not_asked_twice(monkeypatch):
    estimator = Rowwise()
    model = served.CateModel("rowwise", estimator, support=np.array([[0.0, 1.0], [1.0, 0.0]]))
    model.warm()
    assert estimator.asked == 2
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 4.0]])
    tau, low, high = model.effect(_data(X))
    np.testing.assert_array_equal(tau, Rowwise().effect(X))
    assert low is None and high is None
    assert estimator.asked == 3  # only the row it had not seen
    model.effect(_data(X[::-1]))
    assert estimator.asked == 3
    # past the bound, new rows are answered directly (and still right)
    monkeypatch.setattr(served, "MEMO_ROWS", 4)
    many = np.column_stack([np.arange(10.0), np.ones(10)])
    np.testing.assert_array_equal(model.effect(_data(many))[0], Rowwise().effect(many))
    assert len(model._memo) == 3
    # the remembered answers are not part of the logged model
    assert "_memo" not in model.__getstate__()
