"""Axis strings: validation, guessing, transposition, vigra axistags."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gputrack import backend
from gputrack.errors import InputError
from gputrack.io.axes import (
    fill_unknown_axes,
    guess_axes,
    make_axistags,
    normalize_axes,
    parse_axistags,
    transpose_axes,
)

# ilastik's own axistags text, as stored in shared/data/ilastik-testdata mitocheck files
ILASTIK_TAGS = json.dumps(
    {
        "axes": [
            {"key": "t", "typeFlags": 8, "resolution": 0, "description": ""},
            {"key": "x", "typeFlags": 2, "resolution": 0, "description": ""},
            {"key": "y", "typeFlags": 2, "resolution": 0, "description": ""},
            {"key": "z", "typeFlags": 2, "resolution": 0, "description": ""},
            {"key": "c", "typeFlags": 1, "resolution": 0, "description": ""},
        ]
    },
    indent=2,
)


def test_normalize_axes_accepts_upper_case_and_shapes():
    assert normalize_axes("TZYXC", 5) == "tzyxc"
    assert normalize_axes("yx", (10, 20)) == "yx"


@pytest.mark.parametrize(
    ("axes", "ndim", "fragment"),
    [
        ("yxx", 3, "repeat"),
        ("yxq", 3, "unknown letter"),
        ("yx", 3, "do not fit"),
        ("tzyx", (4, 5, 6), "(4, 5, 6)"),
        (None, 2, "must be a string"),
    ],
)
def test_normalize_axes_errors_are_one_line_and_name_source(axes, ndim, fragment):
    with pytest.raises(InputError) as info:
        normalize_axes(axes, ndim, source="movie.tif")
    message = str(info.value)
    assert "movie.tif" in message and fragment in message and "\n" not in message


@pytest.mark.parametrize(
    ("shape", "rgb_ok", "expected"),
    [
        ((7,), True, "x"),
        ((64, 32), True, "yx"),
        ((64, 32, 3), True, "yxc"),
        ((64, 32, 4), True, "yxc"),
        ((64, 32, 3), False, "zyx"),
        ((5, 64, 32), True, "zyx"),
        ((5, 64, 32, 3), True, "zyxc"),
        ((5, 64, 32, 7), True, "tzyx"),
        ((2, 5, 64, 32), True, "tzyx"),
        ((2, 5, 64, 32, 2), True, "tzyxc"),
    ],
)
def test_guess_axes_table(shape, rgb_ok, expected):
    assert guess_axes(shape, rgb_ok=rgb_ok) == expected


def test_guess_axes_rejects_six_dimensions():
    with pytest.raises(InputError, match="pass axes="):
        guess_axes((1, 2, 3, 4, 5, 6))


def test_fill_unknown_axes_follows_guess_convention():
    assert fill_unknown_axes([None, "y", "x"]) == "zyx"
    assert fill_unknown_axes([None, None, "y", "x"]) == "tzyx"
    assert fill_unknown_axes([None, "z", "y", "x"]) == "tzyx"
    assert fill_unknown_axes(["t", None, "y", "x"]) == "tzyx"
    assert fill_unknown_axes([None, None, None, "y", "x"]) == "tzcyx"


def test_transpose_ilastik_to_internal_matches_numpy_transpose():
    rng = np.random.default_rng(0)
    a = rng.random((3, 7, 5, 1, 2))  # t, x, y, z, c
    out = transpose_axes(a, "txyzc", "tzyxc")
    np.testing.assert_array_equal(out, np.transpose(a, (0, 3, 2, 1, 4)))
    back = transpose_axes(out, "tzyxc", "txyzc")
    np.testing.assert_array_equal(back, a)


def test_transpose_inserts_and_drops_singletons():
    a = np.arange(12).reshape(3, 4)
    out = transpose_axes(a, "yx", "tzyxc")
    assert out.shape == (1, 1, 3, 4, 1)
    np.testing.assert_array_equal(out[0, 0, :, :, 0], a)
    np.testing.assert_array_equal(transpose_axes(out, "tzyxc", "xy"), a.T)
    # a view, not a copy
    assert np.shares_memory(transpose_axes(a, "yx", "xy"), a)


def test_transpose_refuses_to_drop_a_long_axis():
    with pytest.raises(InputError, match="axis 'z' has length 2"):
        transpose_axes(np.zeros((2, 3, 4)), "zyx", "yx")


def test_transpose_checks_source_axes_against_shape():
    with pytest.raises(InputError, match="do not fit"):
        transpose_axes(np.zeros((2, 3)), "zyx", "yx")


def test_parse_axistags_of_ilastik_text_and_bytes():
    assert parse_axistags(ILASTIK_TAGS) == "txyzc"
    assert parse_axistags(ILASTIK_TAGS.encode()) == "txyzc"


def test_parse_axistags_errors():
    with pytest.raises(InputError, match="axistags"):
        parse_axistags("not json")
    with pytest.raises(InputError, match="unknown letter"):
        parse_axistags('{"axes": [{"key": "q"}]}')


def test_make_axistags_matches_ilastik_layout():
    assert json.loads(make_axistags("txyzc")) == json.loads(ILASTIK_TAGS)
    assert parse_axistags(make_axistags("TYXC")) == "tyxc"


@pytest.mark.gpu
def test_transpose_axes_on_cupy_matches_numpy():
    cp = backend.array_module("gpu")
    a = np.random.default_rng(1).random((2, 6, 5, 1, 3))
    out = transpose_axes(cp.asarray(a), "txyzc", "tzyxc")
    assert backend.device_of(out) == "gpu"
    np.testing.assert_array_equal(cp.asnumpy(out), transpose_axes(a, "txyzc", "tzyxc"))
