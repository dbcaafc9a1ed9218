"""nvForest backend: same probabilities as scikit-learn and gputrack's kernel (where nvForest imports)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from gputrack import forest as gf
from gputrack.errors import DeviceError
from gputrack.forest import nvforest


def _fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 3] ** 2 > 0.5).astype(int) + (X[:, 5] > 1)
    return RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1).fit(X, y), X


def test_missing_nvforest_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nvforest, "_module", lambda: None)
    assert not nvforest.available()
    with pytest.raises(DeviceError, match="nvforest-cu12"):
        nvforest.load(object())


@pytest.mark.skipif(not nvforest.available(), reason="nvforest not installed")
@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_nvforest_equals_sklearn_and_ours(device):
    from gputrack import backend

    if device == "gpu" and not backend.gpu_available():
        pytest.skip("needs a CUDA GPU")
    rf, X = _fitted()
    model = nvforest.load(rf, device=device)
    got = nvforest.predict_proba(model, X)
    np.testing.assert_allclose(got, rf.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(got, gf.predict_proba(gf.from_sklearn(rf), X, device="cpu"), atol=1e-5)
