"""End to end through `whyflow run`: a deep estimator on an IHDP replicate writes its unit effects to
unit_effects.parquet, from which sqrt(PEHE) is computed as a user would, and two runs of the same spec
give bit-identical unit effects (one thread, seeded)."""

import numpy as np
import pandas as pd
import pytest

from tests.flows.test_run import mlflow_client, run, run_id_of

pytest.importorskip("jax")
pytestmark = pytest.mark.slow

REPLICATE = 7  # IHDP surface B, random_state 7: the true unit effects spread with SD 4.8


def test_tarnet_run_writes_unit_effects_that_beat_the_true_ate_and_repeat_bit_for_bit(project, capsys, prefect_server,
                                                                                    tmp_path, monkeypatch):
    from econml.data.dgps import ihdp_surface_B

    y, t, x, truth = ihdp_surface_B(random_state=REPLICATE)
    names = [f"x{i}" for i in range(1, x.shape[1])]  # the first column is the constant
    frame = pd.DataFrame(x[:, 1:], columns=names).assign(treated=t.astype(float), y=y)
    frame.to_parquet(project / "data/raw/ihdp.parquet")
    with open(project / "params.yaml", "a") as params:
        params.write(f"""
  ihdp:
    data: {{path: data/raw/ihdp.parquet}}
    treatment: treated
    outcome: y
    confounders: [{", ".join(names)}]
    estimators: [tarnet]
    refuters: []
    estimator_options:
      tarnet: {{members: 2, max_epochs: 80, patience: 10}}
""")
    from estimators.deep.adapters import TarNet

    fits, fit = [], TarNet.fit

    def counted(self, data):
        fits.append(data.n)
        return fit(self, data)

    monkeypatch.setattr(TarNet, "fit", counted)
    effects, run_ids = [], []
    for _ in range(2):
        code, out, err = run(project, capsys, "ihdp")
        assert code == 0, err
        run_ids.append(run_id_of(out))
        effects.append(pd.read_parquet(project / "results/ihdp/unit_effects.parquet"))
    first, second = effects
    # one fit per run: the served model reuses the estimate step's network instead of training it again
    assert fits == [len(frame), len(frame)], fits
    assert list(first["row"]) == list(range(len(frame)))
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    pehe = float(np.sqrt(np.mean((first["cate.tarnet"].to_numpy() - truth) ** 2)))
    # knowing the true ATE and nothing else scores the SD of the true effects (4.8); the network must
    # recover much of the heterogeneity (published TARNet median 0.88 over 1,000 replicates)
    assert pehe < 0.5 * truth.std(), pehe
    # the network is the run's served CATE model: an MLflow pyfunc that answers new rows as the run did
    import mlflow.pyfunc

    store = mlflow_client(project)
    status = store.get_run(run_ids[1]).data.tags["whyflow.serve.status"]
    assert status.startswith("registered"), status
    # loaded from the downloaded artifact: mlflow.set_tracking_uri would leak into later tests' environment
    served = mlflow.pyfunc.load_model(store.download_artifacts(run_ids[1], "served_model", str(tmp_path)))
    answered = pd.DataFrame(served.predict(frame[names].head(20)))
    # float32 networks: other batch shapes round differently in the sixth digit
    np.testing.assert_allclose(answered["cate.tarnet"], first["cate.tarnet"].head(20), rtol=1e-5, atol=1e-4)
