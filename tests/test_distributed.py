"""Dask as the engine: blocks, files, object tables and tracking windows as tasks equal one process."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import tifffile

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from gputrack import distributed as gd  # noqa: E402
from gputrack import pixel  # noqa: E402
from gputrack.errors import InputError  # noqa: E402
from gputrack.io import read_image  # noqa: E402

SEL = {"GaussianSmoothing": [1.0], "LaplacianOfGaussian": [1.6], "HessianOfGaussianEigenvalues": [1.0]}


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each, shut down with a timeout."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_port=0, silence_logs=40)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


def _image(n: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((n, n)), 4)
    return ((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def classifier():
    img = _image(128)
    lab = np.zeros(img.shape, np.uint8)
    lab[img < 90] = 1
    lab[img > 170] = 2
    lab[::2] = 0
    return pixel.train(img, lab, SEL, n_trees=8, device="cpu", n_jobs=1)


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiled")
    path = d / "big.tif"
    tifffile.imwrite(path, _image(768, 1), tile=(128, 128))
    return path


def test_parse_scheduler_forms_and_errors(tmp_path):
    assert gd.parse_scheduler("local") == ("local", None)
    assert gd.parse_scheduler("local:3") == ("local", 3)
    assert gd.parse_scheduler("cuda") == ("cuda", None)
    assert gd.parse_scheduler("tcp://h:8786") == ("address", "tcp://h:8786")
    f = tmp_path / "sched.json"
    f.write_text("{}")
    assert gd.parse_scheduler(str(f)) == ("file", str(f))
    for bad in ("local:0", "local:x", "nowhere", str(tmp_path / "missing.json")):
        with pytest.raises(InputError):
            gd.parse_scheduler(bad)


def test_cuda_scheduler_without_dask_cuda_is_a_clear_error():
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        from gputrack.errors import GputrackError

        with pytest.raises(GputrackError, match="dask-cuda"), gd.connect("cuda", quiet=True):
            pass
    else:
        pytest.skip("dask-cuda installed")


@pytest.mark.parametrize("export", ["probabilities", "simple-segmentation"])
def test_blocks_of_one_image_equal_one_process_bit_for_bit(client, classifier, tiled, tmp_path, export):
    ref = pixel.classify_file(classifier, tiled, tmp_path / "ref.zarr", export=export, block_size=256,
                              device="cpu", quiet=True)
    out = gd.classify_file(classifier, tiled, tmp_path / "dist.zarr", client=client, export=export,
                           block_size=256, device="cpu", quiet=True)
    a, b = zarr.open_array(str(ref), mode="r"), zarr.open_array(str(out), mode="r")
    assert a.shape == b.shape and a.dtype == b.dtype and a.chunks == b.chunks
    assert np.array_equal(a[...], b[...])
    assert a.attrs.asdict() == b.attrs.asdict()
    # same chunking and codec: the stored chunk files are the same bytes
    for name in sorted(os.listdir(ref))[:8]:
        assert (ref / name).read_bytes() == (out / name).read_bytes()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_h5_output_and_resume_skips_finished_blocks(client, classifier, tiled, tmp_path):
    out = tmp_path / "seg.h5"
    plan = gd.pixel.plan_file(classifier, tiled, out, export="simple-segmentation", block_size=256)
    assert len(plan.todo) == 9
    first = plan.todo[:4]
    plan.todo = first
    gd.wait_all(client, gd.pixel.submit_plan(client, plan, classifier, device="cpu"), quiet=True)
    again = gd.pixel.plan_file(classifier, tiled, out, export="simple-segmentation", block_size=256)
    assert again.todo == [i for i in range(9) if i not in first]
    # another block size is another run: the partial output is started over
    other = gd.pixel.plan_file(classifier, tiled, out, export="simple-segmentation", block_size=384)
    assert len(other.todo) == len(other.grid) == 4
    res = gd.classify_file(classifier, tiled, out, client=client, export="simple-segmentation",
                           block_size=384, device="cpu", quiet=True)
    ref = pixel.predict(classifier, read_image(tiled), output="simple-segmentation", device="cpu")
    assert np.array_equal(read_image(res), ref)


def test_folder_of_images_as_tasks_equals_one_process(client, classifier, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(20):
        tifffile.imwrite(folder / f"img{i:02d}.tif", _image(64, 10 + i))
    ref = pixel.classify_files(classifier, folder, tmp_path / "ref", export="probabilities", format="h5",
                               device="cpu", quiet=True)
    outs = gd.classify_files(classifier, folder, tmp_path / "dist", client=client, export="probabilities",
                             format="h5", device="cpu", quiet=True)
    assert [p.name for p in outs] == [p.name for p in ref]
    for a, b in zip(ref, outs):
        assert np.array_equal(read_image(a), read_image(b))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_output_opens_with_ngff_readers(client, classifier, tiled, tmp_path, version):
    ngff_zarr = pytest.importorskip("ngff_zarr")
    ome_zarr_io = pytest.importorskip("ome_zarr.io")
    from ome_zarr.reader import Reader

    out = gd.classify_file(classifier, tiled, tmp_path / "seg.ome.zarr", client=client,
                           export="simple-segmentation", block_size=256, device="cpu", quiet=True,
                           ngff_version=version)
    ref = pixel.predict(classifier, read_image(tiled), output="simple-segmentation", device="cpu")
    ms = ngff_zarr.from_ngff_zarr(str(out))
    from gputrack.io.omezarr import ngff_version

    assert ngff_version(out) == version
    assert len(ms.images) == 4  # 768 -> 384 -> 192 -> 96
    # (the readers' dask arrays hold local store handles: computed here, not on the cluster)
    assert np.array_equal(ms.images[0].data.compute(scheduler="threads"), ref)
    assert ms.images[1].data.shape == (384, 384)
    nodes = list(Reader(ome_zarr_io.parse_url(str(out)))())
    assert np.array_equal(nodes[0].data[0].compute(scheduler="threads"), ref)
    assert np.array_equal(read_image(out), ref)  # gputrack's own reader: level 0
    assert zarr.open_group(str(out), mode="r").metadata.zarr_format == (2 if version == "0.4" else 3)


def test_kill_a_worker_in_the_middle_still_finishes_the_same(client, classifier, tmp_path):
    path = tmp_path / "kill.tif"
    tifffile.imwrite(path, _image(1024, 3), tile=(128, 128))
    ref = pixel.predict(classifier, read_image(path), output="probabilities", block_shape=(128, 128),
                        device="cpu")
    out = tmp_path / "kill.zarr"
    done = out.with_name(f".{out.name}.partial.done.zarr")
    result, killed = {}, []

    def run():
        result["path"] = gd.classify_file(classifier, path, out, client=client, export="probabilities",
                                          block_size=128, device="cpu", quiet=True)

    th = threading.Thread(target=run)
    th.start()
    deadline = time.time() + 120
    while time.time() < deadline and not killed:
        if done.exists() and int(np.count_nonzero(zarr.open_array(str(done), mode="r")[:])) >= 8:
            pid = sorted(gd.worker_pids(client).values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.05)
    th.join(timeout=300)
    assert killed and not th.is_alive()
    assert np.array_equal(read_image(result["path"]), ref)
    client.wait_for_workers(2, timeout=60)
    # bounded memory: a worker holds one 128^2 block's features, the classifier and the libraries
    peaks = gd.peak_memory(client)
    assert max(peaks.values()) < 1.5 * 2**30


def test_object_tables_per_frame_and_per_block_equal_one_process(client):
    from scipy import ndimage

    from gputrack.objects import features

    rng = np.random.default_rng(5)
    raw = ndimage.gaussian_filter(rng.random((3, 120, 130)), 3).astype(np.float32)
    labels = np.stack([ndimage.label(f > np.quantile(f, 0.7))[0] for f in raw]).astype(np.uint32)
    whole = features(raw, labels, axes="tyx", device="cpu")
    per_frame = gd.frame_tables(raw, labels, client=client, axes="tyx", device="cpu", quiet=True)
    pd.testing.assert_frame_equal(per_frame, whole)
    # one frame in blocks: objects cross the block borders
    frame = features(raw[1], labels[1], axes="yx", device="cpu")
    blocks = gd.block_table(raw[1], labels[1], block_shape=(50, 45), client=client, device="cpu", quiet=True)
    crossing = [i for i in frame["label"]
                if len({(y // 50, x // 45) for y, x in zip(*np.nonzero(labels[1] == i))}) > 1]
    assert len(crossing) >= 3
    assert blocks.columns.tolist() == frame.columns.tolist()
    np.testing.assert_array_equal(blocks["label"], frame["label"])
    # eigenvector signs are a tie for objects whose axes have components of equal magnitude
    axes_cols = [c for c in frame.columns if c.startswith("RegionAxes")]
    np.testing.assert_allclose(blocks[axes_cols].abs(), frame[axes_cols].abs(), atol=1e-9)
    rest = [c for c in frame.columns if c not in axes_cols]
    np.testing.assert_allclose(blocks[rest].to_numpy(float), frame[rest].to_numpy(float), rtol=1e-9,
                               atol=1e-9)


def test_tracking_windows_as_tasks_equal_one_process(client):
    from gputrack.datasets import synthetic_timelapse
    from gputrack.tracking import track_labels
    from gputrack.tracking.graph import build_graph

    data = synthetic_timelapse(n_frames=200, shape=(128, 128), n_cells=8, seed=3, mergers=False)
    one = track_labels(data.labels, frames_per_split=50)
    dist = gd.track_labels(data.labels, frames_per_split=50, client=client, quiet=True)
    np.testing.assert_array_equal(one.solution.link_value, dist.solution.link_value)
    pd.testing.assert_frame_equal(one.lineage, dist.lineage)
    # divisions survive next to the window borders (cores of 50 frames)
    div_t = one.solution.graph.t[one.solution.division.astype(bool)]
    near = [t for t in div_t if min(abs(t + 0.5 - b) for b in (50, 100, 150)) <= 3]
    assert near and np.array_equal(dist.solution.division, one.solution.division)
    whole = track_labels(data.labels)  # no split: the same divisions
    np.testing.assert_array_equal(whole.solution.division, one.solution.division)
    g_one = build_graph(one.solution.graph.detections)
    g = gd.build_graph(one.solution.graph.detections, frames_per_task=30, client=client, quiet=True)
    for name in ("src", "dst", "distance"):
        np.testing.assert_array_equal(getattr(g, name), getattr(g_one, name))


# --------------------------------------------------------------------------- command line


def _project(tmp_path, classifier):
    from gputrack.project import save_project

    path = tmp_path / "project.h5"
    save_project(path, classifier=classifier)
    return path


def test_cli_pixel_predict_with_scheduler_equals_one_process(client, classifier, tiled, tmp_path):
    from gputrack.cli import main

    project = _project(tmp_path, classifier)
    base = ["pixel", "predict", str(tiled), "--project", str(project), "--export", "simple-segmentation",
            "--block-size", "256", "256", "--device", "cpu", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "one.h5")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask.h5"), "--scheduler", client.scheduler.address]) == 0
    assert np.array_equal(read_image(tmp_path / "one.h5"), read_image(tmp_path / "dask.h5"))
    for version in ("0.4", "0.5"):  # OME-Zarr from both paths
        one, dask_out = tmp_path / f"one{version}.ome.zarr", tmp_path / f"dask{version}.ome.zarr"
        assert main([*base, "--out", str(one), "--ngff-version", version]) == 0
        assert main([*base, "--out", str(dask_out), "--ngff-version", version,
                     "--scheduler", client.scheduler.address]) == 0
        assert np.array_equal(read_image(one), read_image(dask_out))
        assert np.array_equal(read_image(one / "s1"), read_image(dask_out / "s1"))
    assert main([*base, "--out", str(tmp_path / "x.h5"), "--scheduler", "local:0"]) == 2


def test_cli_objects_features_with_scheduler_equals_one_process(client, tmp_path):
    from scipy import ndimage

    from gputrack.cli import main
    from gputrack.io import write_image

    rng = np.random.default_rng(9)
    raw = ndimage.gaussian_filter(rng.random((300, 260)), 3).astype(np.float32)
    labels = ndimage.label(raw > np.quantile(raw, 0.7))[0].astype(np.uint16)
    write_image(tmp_path / "raw.tif", raw, axes="yx")
    write_image(tmp_path / "lab.tif", labels, axes="yx")
    base = ["objects", "features", "--labels", str(tmp_path / "lab.tif"), "--raw", str(tmp_path / "raw.tif"),
            "--features", "Count", "Mean", "Variance", "RegionCenter", "Coord<Minimum>", "--device", "cpu",
            "--quiet"]
    assert main([*base, "--out", str(tmp_path / "one.csv")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask.csv"), "--scheduler", client.scheduler.address,
                 "--block-size", "100", "90"]) == 0
    a, b = pd.read_csv(tmp_path / "one.csv"), pd.read_csv(tmp_path / "dask.csv")
    assert a.columns.tolist() == b.columns.tolist() and len(a) > 20
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9)


@pytest.mark.parametrize("frames", [20, 200])
def test_cli_track_with_scheduler_equals_one_process(client, tmp_path, frames):
    """A folder of 20 label frames and a 200-frame CTC movie, frames-per-split 50."""
    from gputrack.cli import main
    from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc
    from gputrack.io.ctc import read_tracks

    data = synthetic_timelapse(n_frames=frames, shape=(128, 128), n_cells=8, seed=3, mergers=False)
    write_synthetic_ctc(tmp_path / "data", data)
    masks = tmp_path / "data" / "01_GT" / "TRA"
    base = ["track", "--labels", str(masks), "--frames-per-split", "50", "--export", "ctc,csv", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "one")]) == 0
    scheduler = "local:2" if frames == 200 else client.scheduler.address
    assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", scheduler]) == 0
    one, dist = (read_tracks(next((tmp_path / d).rglob("res_track.txt"))) for d in ("one", "dask"))
    pd.testing.assert_frame_equal(one, dist)
    for name in sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.csv")):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()
    if frames == 200:
        parents = one[one["parent"] > 0]
        assert parents["begin"].between(47, 53).any()  # a division at the first window border
    no_split = ["track", "--labels", str(masks), "--out", str(tmp_path / "x"), "--scheduler", "local:2"]
    assert main([*no_split, "--quiet"]) == 2


def _big_tiled_tiff(path, n: int, tile: int = 512):
    """A smooth ``n x n`` uint8 image written tile by tile (never whole in memory)."""
    from scipy import ndimage

    def tiles():
        for i in range(n // tile):
            for j in range(n // tile):
                rng = np.random.default_rng(i * 100_003 + j)
                t = ndimage.gaussian_filter(rng.random((tile, tile)), 6)
                yield ((t - t.min()) / np.ptp(t) * 255).astype(np.uint8)

    tifffile.imwrite(path, tiles(), shape=(n, n), dtype=np.uint8, tile=(tile, tile), bigtiff=True)
    return path


@pytest.mark.slow
def test_16384_tiled_tiff_two_workers_one_killed_equals_one_process(client, classifier, tmp_path):
    """The acceptance case: 16384^2, blocks of 1024 (256 tasks), one worker killed midway."""
    path = _big_tiled_tiff(tmp_path / "huge.tif", 16384)
    t0 = time.perf_counter()
    ref = pixel.classify_file(classifier, path, tmp_path / "one.zarr", export="simple-segmentation",
                              block_size=1024, device="cpu", quiet=True)
    t_one = time.perf_counter() - t0
    out = tmp_path / "dask.zarr"
    done = out.with_name(f".{out.name}.partial.done.zarr")
    result, killed = {}, []

    def run():
        result["path"] = gd.classify_file(classifier, path, out, client=client, export="simple-segmentation",
                                          block_size=1024, device="cpu", quiet=True)

    t0 = time.perf_counter()
    th = threading.Thread(target=run)
    th.start()
    while th.is_alive() and not killed:
        if done.exists() and int(np.count_nonzero(zarr.open_array(str(done), mode="r")[:])) >= 64:
            pid = sorted(gd.worker_pids(client).values())[-1]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.2)
    th.join(timeout=3600)
    t_dask = time.perf_counter() - t0
    assert killed and not th.is_alive()
    a, b = zarr.open_array(str(ref), mode="r"), zarr.open_array(str(result["path"]), mode="r")
    for lo in range(0, 16384, 4096):
        assert np.array_equal(a[lo : lo + 4096], b[lo : lo + 4096])
    client.wait_for_workers(2, timeout=120)
    peaks = gd.peak_memory(client)
    print(f"\n16384^2: one process {t_one:.1f} s, 2 workers (one killed) {t_dask:.1f} s, "
          f"peak worker memory {max(peaks.values()) / 2**20:.0f} MiB")
    assert max(peaks.values()) < 1.5 * 2**30
