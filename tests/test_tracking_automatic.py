"""Automatic tracking from the command line: train division and count classifiers, then track."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from gputrack.cli import main
from gputrack.tracking.synthetic import colony_labels


@pytest.fixture(scope="module")
def colony(tmp_path_factory):
    """A colony with divisions, plus one-pixel-ish speckles (false objects) in every frame."""
    root = tmp_path_factory.mktemp("colony")
    labels, tracks = colony_labels(
        n_frames=16, shape=(128, 128), n_cells=14, radius=4.0, expansion=0.02, division_rate=0.06, seed=5
    )
    rng = np.random.default_rng(0)
    lab = labels.astype(np.uint16).copy()
    speckles = []
    for t in range(lab.shape[0]):
        for _ in range(3):
            y, x = rng.integers(2, 126, 2)
            if lab[t, y - 1 : y + 1, x - 1 : x + 1].any():
                continue
            new = int(lab[t].max()) + 1
            lab[t, y - 1 : y + 1, x - 1 : x + 1] = new
            speckles.append((t, new))
    raw = np.where(lab > 0, 200.0, 100.0) + rng.normal(0, 5, lab.shape)
    raw[lab > 0] += rng.normal(0, 20, int((lab > 0).sum()))
    tifffile.imwrite(root / "labels.tif", lab)
    tifffile.imwrite(root / "raw.tif", raw.astype(np.float32))
    n_children = np.bincount(tracks["parent"], minlength=int(tracks["label"].max()) + 1)
    mothers = {
        (int(e), int(lb)) for lb, e in tracks[["label", "end"]].itertuples(index=False) if n_children[lb] == 2
    }
    rows = []
    for t in range(lab.shape[0]):
        for lb in np.unique(lab[t])[1:]:
            rows.append((t, int(lb), int((t, int(lb)) in mothers), int((t, int(lb)) not in set(speckles))))
    table = pd.DataFrame(rows, columns=["t", "label", "dividing", "count"])
    table[["t", "label", "dividing"]].rename(columns={"dividing": "class"}).to_csv(
        root / "div.csv", index=False
    )
    table[["t", "label", "count"]].rename(columns={"count": "class"}).to_csv(root / "count.csv", index=False)
    return root, table, speckles


def test_train_and_track_from_the_cli(colony):
    root, table, speckles = colony
    common = [
        "--labels",
        str(root / "labels.tif"),
        "--label-axes",
        "tyx",
        "--raw",
        str(root / "raw.tif"),
        "--raw-axes",
        "tyx",
    ]
    for kind, csv in (("division", "div.csv"), ("count", "count.csv")):
        assert (
            main(
                [
                    "objects",
                    "train",
                    "--kind",
                    kind,
                    *common,
                    "--annotations",
                    str(root / csv),
                    "--out",
                    str(root / f"{kind}.h5"),
                    "--trees",
                    "30",
                ]
            )
            == 0
        )
    out = root / "res"
    assert (
        main(
            [
                "track",
                *common,
                "--division-classifier",
                str(root / "division.h5"),
                "--count-classifier",
                str(root / "count.h5"),
                "--out",
                str(out),
                "--export",
                "ctc,csv",
            ]
        )
        == 0
    )
    from gputrack.tracking.result import load_result

    res = load_result(out / "tracking_result.h5")
    det = res.solution.graph.detections
    count = dict(zip(zip(det["t"], det["label"]), res.solution.count))
    off = [count[s] for s in speckles]
    real = [
        count[(t, lb)] for t, lb in table.loc[table["count"] == 1, ["t", "label"]].itertuples(index=False)
    ]
    # the count classifier calls the speckles false: switched off; every real object is kept
    assert sum(c == 0 for c in off) >= 0.9 * len(off)
    assert min(real) >= 1
    assert res.params.max_objects == 1  # count classes 0, 1: no mergers
    assert res.solution.division.sum() >= 0.5 * table["dividing"].sum()


def test_train_division_needs_binary_classes(colony, capsys):
    root, table, _ = colony
    bad = table[["t", "label"]].assign(**{"class": 2})
    bad.loc[0, "class"] = 0
    bad.to_csv(root / "bad.csv", index=False)
    code = main(
        [
            "objects",
            "train",
            "--kind",
            "division",
            "--labels",
            str(root / "labels.tif"),
            "--label-axes",
            "tyx",
            "--raw",
            str(root / "raw.tif"),
            "--raw-axes",
            "tyx",
            "--annotations",
            str(root / "bad.csv"),
            "--out",
            str(root / "bad.h5"),
        ]
    )
    assert code == 2
    assert "0 (not dividing) or 1 (dividing)" in capsys.readouterr().err


def test_annotations_painted_on_the_objects(colony):
    from gputrack.workflows.automatic_tracking import annotations_of

    root, table, _ = colony
    lab = tifffile.imread(root / "labels.tif")
    paint = np.zeros_like(lab)
    t, lb = int(table["t"].iloc[0]), int(table["label"].iloc[0])
    ys, xs = np.nonzero(lab[t] == lb)
    paint[t, ys[:2], xs[:2]] = 3  # ilastik label 3 = class 2
    tifffile.imwrite(root / "paint.tif", paint)
    got = annotations_of(root / "paint.tif", lab, axes="tyx")
    assert got.values.tolist() == [[t, lb, 2]]
