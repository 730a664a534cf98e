"""Odd input to the real tools: config files and -o values, paths, environment variables, a closed output pipe,
a deleted working folder, a broken optional package, a cache folder that cannot be written.

Each case is one ``error:`` line and exit code 2 with nothing written, or a documented fallback; never a
traceback. Most cases fail before paddle loads, so each takes well under a second.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paddle_dcgan import environment
from paddle_dcgan.config import NAME_MAX
from paddle_dcgan.errors import UserError

from conftest import ROOT, TINY, assert_one_line_error, run_tool

LONG_NAME = "n" * (NAME_MAX + 1)
# an alias bomb: nine aliases of nine aliases ... of a string; expanded, 9**8 strings (several GB as Python objects)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefg", "bcdefgh"))


def _config_file(tmp_path: Path, content: bytes | str) -> Path:
    file = tmp_path / "odd.yaml"
    file.write_bytes(content.encode() if isinstance(content, str) else content)
    return file


def _written(cwd: Path) -> list[str]:
    """What a tool left in its working folder, besides the inputs the test put there."""
    return sorted(p.name for p in cwd.iterdir() if p.suffix != ".yaml")


ODD_CONFIG_FILES = {  # case -> (file content, fragments of the error line)
    "alias bomb": (BOMB, ["anchor or alias", "line 1"]),
    "section twice": ("train:\n  epochs: 3\nmodel:\n  ngf: 8\ntrain:\n  batch_size: 5\n",
                      ["'train' twice", "lines 1 and 5"]),
    "key twice": ("train:\n  epochs: 3\n  epochs: 4\n", ["'train.epochs' twice"]),
    "key in its section and dotted": ("train:\n  epochs: 3\ntrain.epochs: 4\n", ["'train.epochs' twice"]),
    "merge key": ("train:\n  <<: {epochs: 3}\n", ["merge key"]),
    "utf-16": ("train:\n  epochs: 3\n".encode("utf-16"), ["UTF-16", "save it as UTF-8"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["NUL bytes", "UTF-8"]),
    "latin-1": (b"seed: 3 # caf\xe9\n", ["not UTF-8", "0xe9"]),
    "over 1 MB": ("seed: 3\n" + "#" * (1 << 20), ["over 1,048,576 bytes"]),
    "nan": ("optim:\n  lr_g: .nan\n", ["'optim.lr_g' must be a finite number"]),
    "inf": ("data:\n  download_timeout: .inf\n", ["'data.download_timeout' must be a finite number"]),
    "overflowing float": ("optim:\n  lr_d: 1e999\n", ["'optim.lr_d' must be a finite number"]),
    "a list": ("- train\n- model\n", ["mapping", "list"]),
    "deep nesting": ("seed: " + "[" * 50_000 + "]" * 50_000 + "\n", ["nests more than"]),
    "impossible date": ("seed: 2024-13-45\n", ["cannot read", "month must be"]),
    "5,000 digits": ("seed: " + "9" * 5000 + "\n", ["cannot read"]),
    "python tag": ("seed: !!python/object/apply:os.system [echo hi]\n", ["not valid YAML at line 1"]),
}


@pytest.mark.parametrize("content, fragments", ODD_CONFIG_FILES.values(), ids=ODD_CONFIG_FILES)
def test_odd_config_files(tmp_path, content, fragments):
    file = _config_file(tmp_path, content)
    result = run_tool("train.py", "-c", str(file), cwd=tmp_path, check=False, timeout=60)
    assert_one_line_error(result, str(file), *fragments)
    assert len(result.stderr) < 400  # never the value itself
    assert _written(tmp_path) == []


def test_config_that_is_not_a_file(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it to read would wait for a writer forever
    for path in (tmp_path / "fifo.yaml", tmp_path, Path("/dev/zero")):
        assert_one_line_error(run_tool("train.py", "-c", str(path), cwd=tmp_path, check=False, timeout=60),
                              "not a regular file")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    assert_one_line_error(run_tool("train.py", "-c", str(tmp_path / "loop.yaml"), cwd=tmp_path, check=False),
                          "cannot open config file", "symbolic links")


ODD_OVERRIDES = {  # case -> (-o item, fragments of the error line)
    "alias": ("model.ngf=&a 3", ["anchor or alias"]),
    "key twice": ("model={ngf: 16, ngf: 32}", ["'ngf' twice"]),
    "huge value": ("run_name=" + "r" * 100_000, ["'run_name'", f"name of 100,000 bytes, over the {NAME_MAX}"]),
    "huge key": ("x" * 100_000 + "=1", ["unknown config key"]),
    "nan": ("optim.beta1=.nan", ["'optim.beta1' must be a finite number"]),
    "huge batch": ("train.batch_size=10000000000", ["'train.batch_size' = 10000000000 is out of range"]),
    "huge width": ("model.ngf=100000", ["'model.ngf' = 100000 is out of range"]),
    "negative seed": ("seed=-1", ["'seed' = -1 is out of range"]),  # numpy's seeding would raise
    "run_name ..": ("run_name=..", ["'run_name' = '..' is out of range"]),  # the run would fill the working folder
}


@pytest.mark.parametrize("override, fragments", ODD_OVERRIDES.values(), ids=ODD_OVERRIDES)
def test_odd_override_values(tmp_path, override, fragments):
    result = run_tool("train.py", "-o", override, cwd=tmp_path, check=False, timeout=60)
    assert_one_line_error(result, *fragments)
    assert len(result.stderr) < 300  # a huge value is quoted cut to SHOWN characters
    assert _written(tmp_path) == []


UNNAMEABLE = {  # case -> (-o item, the key, fragment of the error line)
    "NUL in output_dir": ('output_dir="out\\0put"', "output_dir", "NUL byte"),
    "NUL in data.dir": ('data.dir="/tmp/\\0"', "data.dir", "NUL byte"),
    "NUL in eval.classifier": ('eval.classifier="x\\0.pdclf"', "eval.classifier", "NUL byte"),
    "long name in output_dir": (f"output_dir=out/{LONG_NAME}", "output_dir", f"over the {NAME_MAX}"),
    "long run_name": (f"run_name={LONG_NAME}", "run_name", f"over the {NAME_MAX}"),
    "long name in data.dir": (f"data.dir=/tmp/{LONG_NAME}", "data.dir", f"over the {NAME_MAX}"),
    "long name in eval.classifier": (f"eval.classifier={LONG_NAME}.pdclf", "eval.classifier", f"over the {NAME_MAX}"),
    "long output_dir": ("output_dir=" + "/d" * 3000, "output_dir", "over the 4,095 a path may have"),
}


@pytest.mark.parametrize("override, key, fragment", UNNAMEABLE.values(), ids=UNNAMEABLE)
def test_config_paths_the_system_cannot_name(tmp_path, override, key, fragment):
    result = run_tool("train.py", "-o", override, cwd=tmp_path, check=False, timeout=60)
    assert_one_line_error(result, f"config key '{key}'", fragment)
    assert _written(tmp_path) == []


@pytest.mark.parametrize("script, argument", [
    ("train.py", "-c"), ("train.py", "--resume"),
    ("infer.py", "--run"), ("infer.py", "--checkpoint"), ("infer.py", "--out"), ("infer.py", "--z"),
    ("infer.py", "--export"),
    ("eval.py", "--samples"), ("eval.py", "--classifier"), ("eval.py", "--data-dir"), ("eval.py", "--out"),
    ("eval.py", "--compare"),
    ("export.py", "--out"), ("export.py", "--checkpoint"),
    ("train_classifier.py", "--data-dir"), ("train_classifier.py", "--out"),
])
def test_tool_paths_the_system_cannot_name(tmp_path, script, argument):
    # a NUL byte cannot reach a program through its arguments; a name over 255 bytes can
    result = run_tool(script, argument, f"folder/{LONG_NAME}", cwd=tmp_path, check=False, timeout=60)
    assert_one_line_error(result, f"argument {argument}", f"over the {NAME_MAX}")
    assert _written(tmp_path) == []


def test_classifier_seed_beyond_paddles(tmp_path):
    result = run_tool("train_classifier.py", "--seed", str(2**64), cwd=tmp_path, check=False)
    assert_one_line_error(result, "argument --seed", "from 0 to 4,294,967,295")


def test_library_paths_the_system_cannot_name():
    sys.path.insert(0, str(ROOT))
    try:
        import hubconf
    finally:
        sys.path.remove(str(ROOT))
    for kwargs, name in (({"run": "out\0put"}, "run"), ({"checkpoint": LONG_NAME}, "checkpoint")):
        with pytest.raises(UserError, match=f"^{name} = "):
            hubconf.generator(**kwargs)


@pytest.mark.parametrize("variable, value, fragment", [
    ("PADDLE_TRAINERS_NUM", "two", "whole number >= 1"),
    ("PADDLE_TRAINERS_NUM", "0", "whole number >= 1"),
    ("PADDLE_TRAINERS_NUM", "2", "PADDLE_TRAINER_ID is not set"),
    ("PADDLE_TRAINER_ID", "x", "whole number >= 0"),
    ("PADDLE_TRAINER_ID", "-1", "whole number >= 0"),
    ("PADDLE_TRAINER_ID", "3", "not below PADDLE_TRAINERS_NUM=1 (unset)"),
    ("PADDLE_PG_TIMEOUT", "soon", "whole number >= 1"),
    ("FLAGS_nccl_nrings", "x", "whole number >= 1"),
    ("FLAGS_selected_gpus", "gpu0", "list of GPU numbers"),
    ("OMP_NUM_THREADS", "all", "number of threads"),
    ("OMP_NUM_THREADS", "0", "number of threads"),
    ("OMP_NUM_THREADS", "100000", "number of threads"),  # the OpenMP runtime aborts starting them
    ("MALLOC_MMAP_THRESHOLD_", "big", "number of bytes"),
    ("MALLOC_TRIM_THRESHOLD_", "-5", "number of bytes"),
    ("PADDLE_DCGAN_CPU_TUNING", "off", "neither 0"),
    ("PADDLE_DCGAN_ONEDNN_TUNING", f"/tmp/{LONG_NAME}", f"over the {NAME_MAX}"),
    ("ONEDNN_INCLUDE", f"/tmp/{LONG_NAME}", f"over the {NAME_MAX}"),
], ids=lambda value: value if len(value) < 30 else value[:20] + "...")
def test_junk_in_environment_variables(tmp_path, monkeypatch, variable, value, fragment):
    monkeypatch.setenv(variable, value)
    result = run_tool("infer.py", "--run", "nowhere", cwd=tmp_path, check=False, timeout=60)
    assert_one_line_error(result, variable, fragment)


def test_environment_of_a_launched_process_passes():
    launched = {"PADDLE_TRAINERS_NUM": "2", "PADDLE_TRAINER_ID": "1", "PADDLE_MASTER": "127.0.0.1:6170",
                "FLAGS_selected_gpus": "1", "OMP_NUM_THREADS": "4,2", "PADDLE_DCGAN_CPU_TUNING": "0",
                "MALLOC_TRIM_THRESHOLD_": "131072"}
    environment.check(launched)
    with pytest.raises(UserError, match="no master address"):
        environment.check({**launched, "PADDLE_MASTER": ""})


def _run_elsewhere(code: str, script: str, *args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """tools/<script> started by ``os.execv`` from a Python process that first runs ``code``."""
    argv = [sys.executable, str(ROOT / "tools" / script), *args]
    launcher = f"import os, sys\n{code}\nos.execv(sys.executable, {argv!r})"
    return subprocess.run([sys.executable, "-c", launcher], cwd=cwd, env=dict(os.environ, MPLBACKEND="Agg"),
                          text=True, timeout=120, **kwargs)


def test_working_folder_deleted(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    result = _run_elsewhere(f"os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})", "train.py", "-o", *TINY,
                            cwd=tmp_path, capture_output=True)
    assert_one_line_error(result, "current folder no longer exists")


def _into_closed_pipe(script: str, *args: str, cwd: Path, which: str = "stdout") -> subprocess.CompletedProcess:
    """Run tools/<script> with its stdout (or stderr) a pipe nobody reads any more, as in ``tool | head -0``."""
    read, write = os.pipe()
    os.close(read)
    try:
        other = subprocess.PIPE
        streams = {"stdout": write, "stderr": other} if which == "stdout" else {"stdout": other, "stderr": write}
        return subprocess.run([sys.executable, str(ROOT / "tools" / script), *args], cwd=cwd, text=True,
                              env=dict(os.environ, MPLBACKEND="Agg"), timeout=120, **streams)
    finally:
        os.close(write)


def test_output_to_a_closed_pipe_ends_quietly(tiny_run, tmp_path):
    page = _into_closed_pipe("config_reference.py", cwd=tmp_path)
    assert (page.returncode, page.stderr) == (141, "")
    samples = _into_closed_pipe("infer.py", "--run", str(tiny_run), "-n", "4", "--out", str(tmp_path / "infer"),
                                cwd=tmp_path)
    assert samples.returncode == 141 and "Traceback" not in samples.stderr, samples.stderr
    assert (tmp_path / "infer" / "grid_seed0.png").is_file()  # the work was done; only its summary line was lost
    error = _into_closed_pipe("train.py", "-o", "nope=1", cwd=tmp_path, which="stderr")
    assert (error.returncode, error.stdout) == (2, "")


def test_closed_standard_streams(tiny_run, tmp_path):
    """``tool >&-``: without a stream on descriptor 1 the checkpoint opened next took it, and the load failed."""
    out = tmp_path / "infer"
    samples = _run_elsewhere("os.close(1)", "infer.py", "--run", str(tiny_run), "-n", "4", "--out", str(out),
                             cwd=tmp_path, stderr=subprocess.PIPE)
    assert samples.returncode == 0, samples.stderr
    assert (out / "grid_seed0.png").is_file()
    error = _run_elsewhere("os.close(0); os.close(2)", "train.py", "-o", "nope=1", cwd=tmp_path,
                           stdout=subprocess.PIPE)
    assert (error.returncode, error.stdout) == (2, "")


def test_optional_package_that_fails_to_import(tmp_path, monkeypatch):
    broken = tmp_path / "site" / "paddle2onnx"
    broken.mkdir(parents=True)
    # what a protobuf release that does not fit the package's generated code raises
    (broken / "__init__.py").write_text('raise TypeError("Descriptors cannot be created directly.\\n'
                                        'If this call came from a _pb2.py file, your generated code is out of date")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(broken.parent), os.environ.get("PYTHONPATH")])))
    result = run_tool("export.py", "--onnx", "--run", "nowhere", "--out", str(tmp_path / "export"), cwd=tmp_path,
                      check=False)
    assert_one_line_error(result, "paddle2onnx", "fails to import", "TypeError: Descriptors cannot be created",
                          'pip install --force-reinstall -e ".[export]"')
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("how", ["a file", "read-only"])
def test_cache_folder_that_cannot_be_written(tiny_data, tmp_path, monkeypatch, how):
    """Paddle creates ~/.cache/paddle/dataset when it loads: where it cannot, it loads with a cache of its own and
    one log line says where; the default train.kernels=auto falls back to paddle's kernels, saying why."""
    if how == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; 'a file' fails the same way for root")
    home = tmp_path / "home"
    home.mkdir()
    cache = home / ".cache"
    if how == "a file":
        cache.write_text("")
    else:
        cache.mkdir(mode=0o555)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    result = run_tool("train.py", "-o", *TINY, f"data.dir={tiny_data}", "train.epochs=1", "run_name=cached",
                      cwd=tmp_path)
    assert "Traceback" not in result.stderr
    notes = [line for line in result.stderr.splitlines() if "WARNING paddle cannot create" in line]
    assert len(notes) == 1 and str(cache / "paddle" / "dataset") in notes[0], result.stderr
    assert "train.kernels=auto: no oneDNN kernels" in result.stderr
    assert (tmp_path / "output" / "cached" / "generator.pdparams").is_file()


def test_config_saved_in_other_encodings_says_which(tmp_path):
    encodings = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"))
    for bom, encoding, name in encodings:
        file = _config_file(tmp_path, bom + "seed: 1\n".encode(encoding))
        assert_one_line_error(run_tool("train.py", "-c", str(file), cwd=tmp_path, check=False), name)
