"""The pipeline through the Python API: synthetic data -> pixels -> objects -> tracks -> scores.

Run: ``python examples/pipeline.py [OUT_DIR]``. Prints the CTC scores of the result against
the synthetic ground truth (expected output in ``examples/pipeline.expected.txt``).
"""

import sys
import tempfile
from pathlib import Path

from gputrack import backend, datasets, objects, pixel, segment
from gputrack.export import write_ctc
from gputrack.tracking import TrackingParameters
from gputrack.tracking.evaluate import ctc_scores
from gputrack.tracking.pipeline import track_labels


def main(out: Path) -> dict:
    device = backend.resolve_device("auto")
    data = datasets.synthetic_timelapse(n_frames=20, seed=0)
    datasets.write_synthetic_ctc(out / "data", data, overwrite=True)
    frames = [t for t in range(len(data.raw)) if data.scribbles[t].any()]
    selection = {"GaussianSmoothing": [0.7, 1.6, 3.5], "HessianOfGaussianEigenvalues": [1.6, 3.5]}
    clf = pixel.train(
        [data.raw[t] for t in frames], [data.scribbles[t] for t in frames], selection, n_trees=30
    )
    prob = pixel.predict(clf, data.raw, axes="tyx", device=device)  # (t, y, x, classes)
    labels = backend.to_host(segment.threshold(prob, threshold=0.5, channel=1, min_size=20, axes="tyxc"))
    table = objects.features(data.raw, labels, axes="tyx")  # one row per object and frame
    result = track_labels(labels, params=TrackingParameters(appearance_cost=100, disappearance_cost=100))
    write_ctc(result, out / "data" / "01_RES", overwrite=True)
    scores = ctc_scores(out / "data" / "01_RES", out / "data" / "01_GT")
    print(f"{len(table)} objects, {result.lineage['track_id'].max()} tracks")
    print(" ".join(f"{k} {scores[k]:.3f}" for k in ("DET", "TRA", "LNK")))
    return scores


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
