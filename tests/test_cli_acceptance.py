"""Every subcommand with the four ways a user's data is put at risk.

The subcommands are enumerated from the parser of ``gputrack.cli`` (its ``COMMANDS``), so a
new subcommand without a case here fails :func:`test_every_subcommand_has_a_case`. For each
command that writes an output:

- a read-only output folder,
- a missing input (each input in turn),
- a truncated HDF5 input (``.h5`` / ``.ilp`` cut to half its bytes),

must give exactly one line on stderr naming the culprit, exit status 2, no traceback and no
new file or folder where the output goes; and ``--overwrite`` over an earlier output with a
foreign file beside it (and inside a folder output) must keep that file byte for byte and
leave no temporary file. The commands run in-process (``gputrack.cli.main``) on tiny inputs.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gputrack.cli import _leaf_parsers, build_parser, main
from gputrack.io.images import write_image
from tests.conftest import SHARED_DATA

ILASTIK_DATA = SHARED_DATA / "ilastik-testdata" / "tests" / "test_ilastik" / "data"
ILASTIK_ZIP = ILASTIK_DATA / "api_projects.zip"
TRACKING_ILP = ILASTIK_DATA / "inputdata" / "mitocheckStructuredLearningTracking.ilp"
FOREIGN = b"the user's own notes\n"
LEFTOVERS = (".partial", ".tmp-", ".old-", "-probe-")
HDF5 = ("img_h5", "project", "probs", "raw_h5", "labels_h5", "classifier", "result", "annotated", "ilp",
        "tracking_ilp", "oc_ilp")
"""The workspace's HDF5 inputs (``.h5``, ``.ilp``)."""
IMAGES_HDF5 = ("img_h5", "probs", "raw_h5", "labels_h5")
"""HDF5 inputs read as images: a dataset may be named in the path (``file.h5/data``)."""


@dataclass
class Case:
    """One run of a subcommand: its arguments with ``{name}`` for the workspace's inputs and ``{out}``.

    The inputs are the names in braces (each is made missing in turn, and cut in half when it is
    an HDF5 file); ``out`` is the output's name (None: writes nothing); ``folder``: the output is
    a folder. A case whose input is absent (shared data) is skipped.
    """

    args: str
    out: str | None = None
    folder: bool = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(k for k in re.findall(r"{(\w+)}", self.args) if k != "out")

    def argv(self, w: dict, out: Path) -> list[str]:
        return [part.format_map({**w, "out": out}) for part in self.args.split()]


TRAIN = "pixel train --images {img_h5} --labels {scribbles} --features GaussianSmoothing=1.0 --trees 4"

CASES: dict[str, list[Case]] = {
    "info": [Case("info --device cpu")],
    "synth": [Case("synth --out {out} --frames 3 --shape 32 32 --cells 2", "syn", folder=True)],
    "ilp-info": [Case("ilp-info {ilp}")],
    "pixel train": [Case(TRAIN + " --out {out}", "p.h5")],
    "pixel predict": [
        Case("pixel predict {img_h5} --project {project} --out {out}", "probs.h5"),
        Case("pixel predict {frames} --project {project} --out {out} --export simple-segmentation "
             "--format tif", "segs", folder=True),
        Case("pixel predict {ilp_png} --ilp {ilp} --out {out}", "ilp_probs.h5"),
        Case("pixel predict {img_h5}/data --project {project} --out {out}", "probs_of_data", folder=True),
    ],
    "segment": [Case("segment {probs} --out {out}", "seg.h5")],
    "objects features": [Case("objects features --labels {labels_h5} --raw {raw_h5} --out {out} "
                              "--features Count Mean", "table.csv")],
    "objects train": [Case("objects train --labels {labels_h5} --raw {raw_h5} --annotations {annotations} "
                           "--out {out} --features Count Mean --trees 4", "clf.h5")],
    "objects predict": [Case("objects predict --labels {labels_h5} --raw {raw_h5} --classifier {classifier} "
                             "--out {out}", "pred.csv"),
                        Case("objects predict --ilp {oc_ilp} --out {out}", "pred_ilp.csv")],
    "track": [
        Case("track --labels {labels_h5} --out {out} --export ctc,csv", "res", folder=True),
        Case("track --labels {tra} --raw {raw_h5} --division-classifier {classifier} --out {out}", "res_clf",
             folder=True),
        Case("track --ilp {tracking_ilp} --out {out}", "res_ilp", folder=True),
        Case("track --labels {labels_h5} --raw {raw_h5} --out {out} --pictures", "res_pics", folder=True),
    ],
    "learn": [
        Case("learn --annotations {gt} --out {out} --max-rounds 3", "weights.json"),
        Case("learn --annotations {annotated} --labels {tra} --out {out} --max-rounds 3", "weights2.json"),
        Case("learn --annotations {tracking_ilp} --out {out} --max-rounds 3", "weights3.json"),
    ],
    "annotate import": [Case("annotate import --from {gt} --project {out}", "annotations.h5")],
    "annotate export": [Case("annotate export --project {annotated} --labels {tra} --format ctc --out {out}",
                             "ann_ctc", folder=True)],
    "annotate info": [Case("annotate info --project {annotated}")],
    "annotate classes": [Case("annotate classes --labels {tra} --gt {gt} --kind division --out {out}",
                              "classes.csv")],
    "annotate extend": [Case("annotate extend --project {out} --labels {tra} --track new --from 0,1",
                             "extended.h5")],
    "export": [Case("export {result} --format ctc --out {out}", "ctc", folder=True),
               Case("export {result} --format csv --out {out}", "tracks.csv")],
    "render": [Case("render {result} --out {out}", "pics", folder=True),
               Case("render {result} --raw {raw_h5} --out {out} --frames 1 --format svg", "pics_raw",
                    folder=True)],
    "demo": [Case("demo --out {out} --frames 3 --trees 3", "demo", folder=True)],
    "bench": [Case("bench --stage tracking --size tiny --repeat 1 -q --out {out}", "bench", folder=True)],
    "compile": [Case("compile --quiet")],
    "ilastik-headless": [Case("ilastik-headless --headless --project={ilp} --output_filename_format={out} "
                              "{ilp_png}", "headless.h5")],
}


def _subcommands() -> list[str]:
    return list(_leaves())


def _variants() -> list[tuple[str, int]]:
    return [(name, k) for name in _subcommands() for k in range(len(CASES.get(name, [])))]


def _writing_variants() -> list[tuple[str, int]]:
    return [(name, k) for name, k in _variants() if CASES[name][k].out]


def _input_variants() -> list[tuple[str, int, str]]:
    return [(name, k, key) for name, k in _variants() for key in CASES[name][k].inputs]


def _hdf5_variants() -> list[tuple[str, int, str]]:
    return [v for v in _input_variants() if v[2] in HDF5]


def _id(value) -> str:
    return "-".join(map(str, value)).replace(" ", "_")


def test_every_subcommand_has_a_case():
    names = _subcommands()
    assert len(names) >= 17 and "pixel predict" in names and "annotate info" in names
    missing = sorted(set(names) - set(CASES))
    assert not missing, f"subcommands without a case in {__name__}.CASES: {missing}"
    assert not set(CASES) - set(names), "cases of subcommands that no longer exist"


# --------------------------------------------------------------------------- workspace


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> dict:
    """Tiny inputs of every kind the commands read (``.h5`` where a command takes HDF5)."""
    from gputrack.datasets import synthetic_timelapse, write_synthetic_ctc
    from gputrack.objects import features as object_features

    root = tmp_path_factory.mktemp("inputs")
    data = synthetic_timelapse(n_frames=4, shape=(48, 48), n_cells=3, seed=0)
    write_synthetic_ctc(root / "seq", data)
    t = next(t for t in range(4) if data.scribbles[t].any())
    w = {"root": root, "gt": root / "seq" / "01_GT", "tra": root / "seq" / "01_GT" / "TRA"}
    write_image(root / "img.h5", data.raw[t], axes="yx")
    w["img_h5"] = root / "img.h5"
    write_image(root / "scribbles.png", data.scribbles[t].astype(np.uint8), axes="yx")
    w["scribbles"] = root / "scribbles.png"
    (root / "frames").mkdir()
    for k in range(2):
        write_image(root / "frames" / f"cell{k}.tif", data.raw[k], axes="yx")
    w["frames"] = root / "frames"
    write_image(root / "raw.h5", data.raw, axes="tyx")
    write_image(root / "labels.h5", data.labels, axes="tyx")
    w["raw_h5"], w["labels_h5"] = root / "raw.h5", root / "labels.h5"
    table = object_features(data.raw, data.labels, axes="tyx")
    big = table["Count"] > table["Count"].median()
    table[["t", "label"]].assign(**{"class": np.where(big, 1, 0)}).to_csv(root / "ann.csv", index=False)
    w["annotations"] = root / "ann.csv"
    w.update(project=root / "p.h5", probs=root / "probs.h5", classifier=root / "clf.h5",
             result=root / "res" / "tracking_result.h5", annotated=root / "annotated.h5")
    for name, out in (("pixel train", w["project"]), ("pixel predict", w["probs"]),
                      ("objects train", w["classifier"]), ("track", w["result"].parent),
                      ("annotate import", w["annotated"])):
        assert main([*CASES[name][0].argv(w, out), "-q"]) == 0, name
    if ILASTIK_ZIP.is_file():
        with zipfile.ZipFile(ILASTIK_ZIP) as zf:
            for name in ("PixelClass.ilp", "Data_1channel.png"):
                zf.extract(name, root)
        w["ilp"], w["ilp_png"] = root / "PixelClass.ilp", root / "Data_1channel.png"
    if TRACKING_ILP.is_file():
        w["tracking_ilp"] = TRACKING_ILP
    if (ILASTIK_DATA / "test_projects.zip").is_file():
        with zipfile.ZipFile(ILASTIK_DATA / "test_projects.zip") as zf:
            zf.extract("ObjectClassification5t2d1c_wPred.ilp", root)
        w["oc_ilp"] = root / "ObjectClassification5t2d1c_wPred.ilp"
    return w


def _case(w: dict, name: str, k: int) -> Case:
    case = CASES[name][k]
    absent = [key for key in case.inputs if key not in w]
    if absent:
        pytest.skip(f"{', '.join(absent)}: needs {ILASTIK_DATA}")
    return case


def _run(capsys, case: Case, w: dict, out: Path, *extra: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    argv = [*case.argv(w, out), *extra]
    rc = main([*argv, "-q"] if "--quiet" in _leaf(argv)._option_string_actions else argv)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return rc, err


@functools.cache
def _leaves() -> dict:
    return {leaf.prog.removeprefix("gputrack "): leaf for leaf in _leaf_parsers(build_parser())}


def _leaf(argv: list[str]):
    """The parser of the subcommand that ``argv`` starts with."""
    by_name = _leaves()
    return next(by_name[" ".join(argv[:n])] for n in (2, 1) if " ".join(argv[:n]) in by_name)


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder`` with its bytes (None for folders)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
            for p in sorted(folder.rglob("*"))}


def _assert_refused(rc: int, err: list[str], *needles: str) -> None:
    assert rc == 2, (rc, err)
    assert len(err) == 1 and err[0].startswith("gputrack: error: "), err
    for needle in needles:
        assert needle in err[0], (needle, err[0])


def _assert_no_leftovers(folder: Path) -> None:
    left = [str(p) for p in folder.rglob("*") if any(mark in p.name for mark in LEFTOVERS)]
    assert not left, left


# --------------------------------------------------------------------------- read-only output


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


@contextlib.contextmanager
def _file_permissions_apply():
    """As root, drop CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH from this thread while the block runs.

    Root writes into a mode-555 folder; without these two capabilities (still permitted, so
    raised again afterwards) the folder's mode applies as it does for any user.
    """
    if os.geteuid() != 0:
        yield
        return
    if not sys.platform.startswith("linux"):
        pytest.skip("running as root: read-only folders are writable")
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("running as root and capget failed")
    before = data[0].effective
    data[0].effective = before & ~((1 << 1) | (1 << 2))
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip("running as root and capset failed")
    try:
        yield
    finally:
        data[0].effective = before
        libc.capset(ctypes.byref(header), data)


@contextlib.contextmanager
def read_only(folder: Path):
    folder.chmod(0o555)
    try:
        with _file_permissions_apply():
            try:
                (folder / "probe").touch()
            except PermissionError:
                yield
                return
            (folder / "probe").unlink()
            pytest.skip("mode 555 does not stop writes here")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("name,k", _writing_variants(), ids=list(map(_id, _writing_variants())))
def test_read_only_output(w, tmp_path, capsys, name, k):
    case = _case(w, name, k)
    dest = tmp_path / "ro"
    dest.mkdir()
    with read_only(dest):
        rc, err = _run(capsys, case, w, dest / case.out)
        assert _tree(dest) == {}
    _assert_refused(rc, err, str(dest))


# --------------------------------------------------------------------------- missing / truncated inputs


@pytest.mark.parametrize("name,k,key", _input_variants(), ids=list(map(_id, _input_variants())))
def test_missing_input(w, tmp_path, capsys, name, k, key):
    case = _case(w, name, k)
    gone = tmp_path / "gone" / Path(w[key]).name
    dest = tmp_path / "out"
    dest.mkdir()
    rc, err = _run(capsys, case, {**w, key: gone}, dest / (case.out or "x"))
    _assert_refused(rc, err, str(gone))
    assert _tree(dest) == {}


def _dataset_variants() -> list[tuple[str, int, str]]:
    return [v for v in _input_variants() if v[2] in IMAGES_HDF5]


@pytest.mark.parametrize("name,k,key", _dataset_variants(), ids=list(map(_id, _dataset_variants())))
def test_missing_dataset(w, tmp_path, capsys, name, k, key):
    case = _case(w, name, k)
    dest = tmp_path / "out"
    dest.mkdir()
    argv = [a.replace(f"{w[key]}/data", f"{w[key]}") for a in case.argv(w, dest / (case.out or "x"))]
    argv = [f"{a}/absent" if a == str(w[key]) else a for a in argv]
    capsys.readouterr()
    rc = main(argv + (["-q"] if "--quiet" in _leaf(argv)._option_string_actions else []))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    _assert_refused(rc, err, Path(w[key]).name, "'absent'")
    assert _tree(dest) == {}


@pytest.mark.parametrize("name,k,key", _hdf5_variants(), ids=list(map(_id, _hdf5_variants())))
def test_truncated_hdf5_input(w, tmp_path, capsys, name, k, key):
    case = _case(w, name, k)
    source = Path(w[key])
    assert source.suffix in (".h5", ".ilp")
    cut = tmp_path / "cut" / source.name
    cut.parent.mkdir()
    data = source.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out"
    dest.mkdir()
    rc, err = _run(capsys, case, {**w, key: cut}, dest / (case.out or "x"))
    _assert_refused(rc, err, str(cut))
    assert _tree(dest) == {}
    assert cut.read_bytes() == data[: len(data) // 2]


# --------------------------------------------------------------------------- an output over an input


def _writing_input_variants() -> list[tuple[str, int, str]]:
    return [v for v in _input_variants() if CASES[v[0]][v[1]].out]


@pytest.mark.parametrize("name,k,key", _writing_input_variants(),
                         ids=list(map(_id, _writing_input_variants())))
def test_output_over_an_input_keeps_the_input(w, tmp_path, capsys, name, k, key):
    """``--out`` naming an input, with ``--overwrite``: refused on one line, the input unchanged."""
    case = _case(w, name, k)
    source = Path(w[key])
    copy = tmp_path / "in" / source.name
    if source.is_dir():
        shutil.copytree(source, copy)
    else:
        copy.parent.mkdir()
        shutil.copyfile(source, copy)
    before = _tree(copy.parent)
    again = ["--overwrite"] if "--overwrite" in _leaf(name.split())._option_string_actions else []
    rc, err = _run(capsys, case, {**w, key: copy}, copy, *again)
    after = _tree(copy.parent)
    assert {path: after.get(path) for path in before} == before
    if name != "ilastik-headless":  # there the format's extension replaces the name's: another file
        _assert_refused(rc, err, str(copy))
        assert after == before


# --------------------------------------------------------------------------- --overwrite, a foreign file


@pytest.mark.parametrize("name,k", _writing_variants(), ids=list(map(_id, _writing_variants())))
def test_overwrite_keeps_a_foreign_file(w, tmp_path, capsys, name, k):
    case = _case(w, name, k)
    dest = tmp_path / "out"
    dest.mkdir()
    out = dest / case.out
    (dest / "notes.txt").write_bytes(FOREIGN)
    rc, err = _run(capsys, case, w, out)
    assert rc == 0, err
    assert out.exists() or list(dest.glob(f"{out.stem}*")), sorted(os.listdir(dest))
    if case.folder:
        (out / "notes.txt").write_bytes(FOREIGN)
    first = _tree(dest)
    again = ["--overwrite"] if "--overwrite" in _leaf(name.split())._option_string_actions else []
    rc, err = _run(capsys, case, w, out, *again)
    assert rc == 0, err
    assert (dest / "notes.txt").read_bytes() == FOREIGN
    if case.folder:
        assert (out / "notes.txt").read_bytes() == FOREIGN
    _assert_no_leftovers(dest)
    assert set(_tree(dest)) == set(first), "a rerun with --overwrite writes the same names"
    # the same rerun into the now read-only output location is refused and changes nothing
    done = _tree(dest)
    with contextlib.ExitStack() as stack:
        for folder in [dest, out] if case.folder else [dest]:
            stack.enter_context(read_only(folder))
        rc, err = _run(capsys, case, w, out, *again)
        assert _tree(dest) == done
    _assert_refused(rc, err, str(dest))
