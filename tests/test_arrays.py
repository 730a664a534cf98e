"""Arrays a user hands to the tools are read as data only: tools/infer.py --z and tools/eval.py --samples refuse
NaN, inf, pickles, object arrays, shapes and types they do not take and files larger than they read, each with
one line and nothing written."""

import pickle

import numpy as np
import pytest

from paddle_dcgan.errors import UserError
from paddle_dcgan.evaluation.evaluate import read_samples
from paddle_dcgan.sampling.sample import load_noise

from conftest import assert_one_line_error, run_tool


class _CreatesFile:
    """Unpickling this creates ``path``: the file shows whether a reader ran code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _header_only(path, shape, dtype):
    """A .npy header announcing ``shape`` with no data after it: what a reader must not allocate for."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                 "shape": shape})


def _bad_arrays(folder, good):
    """{case: (path, fragment of the error)} for arrays like ``good`` (a valid array) that a reader must refuse."""
    marker = folder / "code_ran"
    cases = {
        "nan": (good.astype(np.float32), "NaN or inf"),
        "inf": (good.astype(np.float64), "NaN or inf"),
        "object": (np.array([_CreatesFile(marker)] * 2, dtype=object), "never loaded"),
        "shape": (good[..., None], "shape"),
        "dtype": (good.astype(np.complex64), "complex64"),
    }
    cases["nan"][0].flat[len(good.flat) // 2] = np.nan
    cases["inf"][0].flat[-1] = np.inf
    paths = {}
    for case, (array, fragment) in cases.items():
        np.save(folder / f"{case}.npy", array, allow_pickle=True)
        paths[case] = (folder / f"{case}.npy", fragment)
    (folder / "pickle.npy").write_bytes(pickle.dumps(_CreatesFile(marker)))
    paths["pickle"] = (folder / "pickle.npy", "is a pickle")
    _header_only(folder / "huge.npy", (10 ** 9,) + good.shape[1:], good.dtype)
    paths["huge"] = (folder / "huge.npy", "more than the 100,000")
    return paths, marker


SAMPLES = np.zeros((200, 1, 28, 28), np.uint8)


def test_eval_samples_that_are_not_images_are_one_line(tmp_path):
    paths, marker = _bad_arrays(tmp_path, SAMPLES)
    for case, (path, fragment) in paths.items():
        result = run_tool("eval.py", "--samples", str(path), "--out", str(tmp_path / "eval"), cwd=tmp_path, check=False)
        assert_one_line_error(result, f"samples file '{path}'", fragment)
    assert not marker.exists()  # no unpickling happened
    assert not (tmp_path / "eval").exists()  # no eval.json, no folder


def test_infer_noise_that_is_not_noise_is_one_line(tiny_plain_run, tmp_path):
    paths, marker = _bad_arrays(tmp_path, np.zeros((12, 16, 1, 1), np.float32))
    for case, (path, fragment) in paths.items():
        result = run_tool("infer.py", "--run", str(tiny_plain_run), "--z", str(path), "--out", str(tmp_path / "o"),
                          cwd=tmp_path, check=False)
        assert_one_line_error(result, f"noise file '{path}'", fragment)
    assert not marker.exists()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("reader,good", [(read_samples, SAMPLES),
                                         (lambda path: load_noise(path, 16), np.zeros((12, 16, 1, 1), np.float32))])
def test_damaged_files_are_refused(tmp_path, reader, good):
    np.save(tmp_path / "good.npy", good)
    data = (tmp_path / "good.npy").read_bytes()
    np.savez(tmp_path / "archive.npz", good)
    (tmp_path / "archive.npy").write_bytes((tmp_path / "archive.npz").read_bytes())
    files = {
        "cut short": data[:len(data) // 2],
        "longer than its header announces": data + b"\0" * 8,
        "not a .npy file": b"hello",
        "an .npz archive": (tmp_path / "archive.npz").read_bytes(),
        "damaged .npy header": data[:10] + b"{" * 50 + data[60:],
    }
    for fragment, content in files.items():
        (tmp_path / "bad.npy").write_bytes(content)
        with pytest.raises(UserError, match=fragment):
            reader(tmp_path / "bad.npy")
    with pytest.raises(UserError, match="not found"):
        reader(tmp_path / "none.npy")
    with pytest.raises(UserError, match="not a regular file"):
        reader(tmp_path)
    np.testing.assert_array_equal(reader(tmp_path / "good.npy"), good)


def test_fortran_ordered_noise_is_read_and_nan_located(tmp_path):
    z = np.asfortranarray(np.random.default_rng(0).standard_normal((5, 16, 1, 1)))
    np.save(tmp_path / "z.npy", z)
    np.testing.assert_array_equal(load_noise(tmp_path / "z.npy", 16), z)
    z[3, 7, 0, 0] = np.nan
    np.save(tmp_path / "z.npy", z)
    with pytest.raises(UserError, match=r"NaN or inf \(the first at \[3, 7, 0, 0\]\)"):
        load_noise(tmp_path / "z.npy", 16)


def test_noise_beyond_float32_is_one_line(tiny_plain_run, tmp_path):
    """float64 noise too large for float32 would become inf in the cast: refused, without numpy's warning."""
    np.save(tmp_path / "big.npy", np.full((2, 16, 1, 1), 1e300))
    result = run_tool("infer.py", "--run", str(tiny_plain_run), "--z", str(tmp_path / "big.npy"), "--out",
                      str(tmp_path / "o"), cwd=tmp_path, check=False)
    assert_one_line_error(result, "beyond float32's range")
    assert not (tmp_path / "o").exists()
