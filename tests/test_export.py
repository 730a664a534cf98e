"""Export (paddle.jit.save, ONNX), the three engines agreeing, and their errors."""

import json
import logging
import shutil
import warnings

import numpy as np
import paddle
import pytest
import paddle.nn.functional as F

from paddle_dcgan.sampling.engines import InferenceEngine, OnnxEngine, open_engine
from paddle_dcgan.errors import UserError
from paddle_dcgan.sampling.export import BATCHNORM_POLICY, METADATA, PARITY_TOLERANCE, export_generator, read_metadata
from paddle_dcgan.files.checkpoint import save_generator
from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.core.models import Generator, init_dcgan_weights
from paddle_dcgan.random_streams import noise_for_seed
from paddle_dcgan.sampling.sample import generate

from conftest import assert_one_line_error, run_tool, run_without

pytest.importorskip("paddle2onnx", reason="the export extra is not installed: pip install -e \".[export]\"")
pytest.importorskip("onnxruntime", reason="the export extra is not installed: pip install -e \".[export]\"")


@pytest.fixture(scope="module")
def exported(tiny_plain_run):
    """tools/export.py --onnx into the run's default folder."""
    result = run_tool("export.py", "--run", str(tiny_plain_run), "--onnx", cwd=tiny_plain_run.parent)
    return tiny_plain_run / "export", result


def test_export_files_and_metadata(exported, tiny_plain_run):
    folder, result = exported
    assert sorted(p.name for p in folder.iterdir()) == ["generator.json", "generator.onnx", "generator.pdiparams",
                                                        "metadata.json"]
    meta = json.loads((folder / METADATA).read_text())
    assert (meta["nz"], meta["image_size"], meta["channels"]) == (16, 28, 1)
    assert meta["batchnorm"] == BATCHNORM_POLICY == "running statistics (eval mode)"
    assert meta["source"] == str((tiny_plain_run / "generator.pdparams").resolve()) and meta["step"] == 10
    assert meta["dataset"] == "mnist" and meta["paddle_version"] == paddle.__version__
    assert meta["input"] == {"name": "z", "shape": [None, 16, 1, 1], "dtype": "float32"}
    assert set(meta["parity_max_abs_diff"]) == {"inference", "onnx"}
    assert max(meta["parity_max_abs_diff"].values()) <= PARITY_TOLERANCE
    assert "exported" in result.stdout and str(folder) in result.stdout and "inference" in result.stdout


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    """A generator whose images fill [-1, 1] and whose BatchNorm statistics are far from 0 and 1, exported
    with the library call: after 10 tiny steps a trained generator still draws grey (|x| < 0.05), which
    would hide a wrong layer or BatchNorm policy inside a 1e-4 tolerance."""
    run = tmp_path_factory.mktemp("wide")
    paddle.seed(1)
    net = Generator(28, 16, 8)
    init_dcgan_weights(net)
    norms = [layer for layer in net.sublayers() if isinstance(layer, paddle.nn.BatchNorm2D)]
    for layer in norms:  # running statistics = those of one batch, then moved off them
        layer._momentum = 0.0
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # paddle's note that training-mode BatchNorm tracks statistics
        net(paddle.randn([256, 16, 1, 1]))
    for layer in norms:
        layer._mean.set_value(layer._mean + 0.5 * layer._variance.sqrt() * paddle.randn(layer._mean.shape))
        layer._variance.set_value(layer._variance * (paddle.rand(layer._variance.shape) * 1.5 + 0.5))
    last = net.blocks[-1][0]
    last.weight.set_value(last.weight * 20)  # tanh's whole range
    save_generator(net, {"image_size": 28, "nz": 16, "ngf": 8, "ndf": 8}, "mnist", 7, run / "generator.pdparams")
    folder, meta = export_generator(run, onnx=True)
    assert folder == run / "export" and meta["step"] == 7
    return run


@pytest.mark.parametrize("which", ["tiny_plain_run", "wide_run"])
def test_engines_agree_with_dygraph(which, exported, request):
    """The same z through dygraph, Paddle Inference and ONNX Runtime: the same images within 1e-4."""
    run = request.getfixturevalue(which)
    generator, _ = load_generator(run)
    meta = read_metadata(run / "export")
    inference, onnx = InferenceEngine(run / "export", meta, "cpu"), OnnxEngine(run / "export", meta, "cpu")
    for n, seed in ((64, 0), (1, 5), (7, 9)):  # any batch size: the exported batch dimension is free
        z = noise_for_seed(seed, n, 16)
        reference = generate(generator, z)
        assert reference.shape == (n, 1, 28, 28)
        for engine in (inference, onnx):
            out = engine(z)
            assert out.shape == reference.shape and out.dtype == np.float32
            assert np.abs(out - reference).max() <= 1e-4, engine.name
    spread = np.abs(onnx(noise_for_seed(1, 64, 16)) - generate(generator, noise_for_seed(0, 64, 16))).max()
    assert spread > (0.5 if which == "wide_run" else 1e-3)  # other noise, other images: the check above can fail


def test_export_freezes_batchnorm_running_statistics(wide_run):
    generator, _ = load_generator(wide_run)
    z = noise_for_seed(0, 64, 16)
    exported_images = open_engine("inference", wide_run, None, "cpu")(z)
    assert np.abs(exported_images - generate(generator, z)).max() <= 1e-4  # generate() runs in eval mode
    generator.train()  # batch statistics: what the export must not use
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch_stats = generator(paddle.to_tensor(z)).numpy()
    assert np.abs(exported_images - batch_stats).max() > 0.1


def test_inference_uses_onednn_here(exported, tiny_plain_run):
    engine = open_engine("inference", tiny_plain_run, None, "cpu")
    assert engine.onednn and "oneDNN on" in engine.description


class _Upsampled(Generator):
    """A generator whose program contains an interpolate op: Paddle 3.3's oneDNN executor rejects its
    float-list attribute ("ConvertPirAttribute2RuntimeAttribute not support")."""

    def forward(self, z):
        return F.avg_pool2d(F.interpolate(super().forward(z), scale_factor=2.0, mode="nearest"), 2)


def test_inference_falls_back_when_onednn_fails(exported, tmp_path, caplog):
    folder, _ = exported
    net = _Upsampled(28, 16, 8)
    net.eval()
    paddle.jit.save(net, str(tmp_path / "generator"),
                    input_spec=[paddle.static.InputSpec([None, 16, 1, 1], "float32", "z")])
    shutil.copy(folder / METADATA, tmp_path / METADATA)
    with caplog.at_level(logging.WARNING, logger="paddle_dcgan"):
        engine = InferenceEngine(tmp_path, read_metadata(tmp_path), "cpu")
    assert not engine.onednn and "oneDNN off" in engine.description
    notices = [r.getMessage() for r in caplog.records if "oneDNN" in r.getMessage()]
    assert len(notices) == 1 and "ConvertPirAttribute2RuntimeAttribute" in notices[0], caplog.text
    z = noise_for_seed(0, 8, 16)
    assert np.abs(engine(z) - generate(net, z)).max() <= 1e-4


def test_infer_tool_with_each_engine(exported, tiny_plain_run, tmp_path):
    folder, _ = exported
    arrays = {}
    for engine, says in (("dygraph", "dygraph on cpu"), ("inference", "Paddle Inference"),
                         ("onnx", "ONNX Runtime")):
        result = run_tool("infer.py", "--run", str(tiny_plain_run), "--engine", engine, "-n", "12", "--seed", "4", "--npy",
                          "--out", str(tmp_path / engine), cwd=tmp_path)
        assert says in result.stdout and "12 digits" in result.stdout and "step 10" in result.stdout
        arrays[engine] = np.load(tmp_path / engine / "samples_seed4.npy").astype(int)
    # uint8 pixels: equal, but for a rounding boundary crossed by a 1e-8 difference
    assert np.abs(arrays["inference"] - arrays["dygraph"]).max() <= 1
    assert np.abs(arrays["onnx"] - arrays["dygraph"]).max() <= 1
    # a saved noise batch, and the default output folder <run>/infer
    np.save(tmp_path / "z.npy", noise_for_seed(4, 12, 16))
    result = run_tool("infer.py", "--run", str(tiny_plain_run), "--engine", "onnx", "--z", str(tmp_path / "z.npy"), "--npy",
                      cwd=tmp_path)
    assert "z.npy" in result.stdout
    np.testing.assert_array_equal(np.load(tiny_plain_run / "infer" / "samples_z.npy"), arrays["onnx"])


def test_infer_export_errors(exported, tiny_plain_run, tmp_path):
    """Through the tool: one 'error:' line and exit 2; the library raises the same UserErrors."""
    folder, _ = exported
    out = ["--out", str(tmp_path / "o")]
    assert_one_line_error(run_tool("infer.py", "--engine", "inference", "--export", str(tmp_path / "none"), *out,
                                   cwd=tmp_path, check=False), "not found", "tools/export.py")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "generator.json").write_text("{ nonsense")
    assert_one_line_error(run_tool("infer.py", "--engine", "inference", "--export", str(broken), *out, cwd=tmp_path,
                                   check=False), "corrupt", "tools/export.py")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 100, 1, 1), np.float32))
    assert_one_line_error(run_tool("infer.py", "--run", str(tiny_plain_run), "--engine", "onnx", "--z",
                                   str(tmp_path / "wrong.npy"), *out, cwd=tmp_path, check=False),
                          "[3, 100, 1, 1]", "[N, 16, 1, 1]")
    assert_one_line_error(run_without("onnxruntime", "infer.py", "--run", str(tiny_plain_run), "--engine", "onnx", *out,
                                      cwd=tmp_path), "onnxruntime", 'pip install -e ".[export]"')
    assert not (tmp_path / "o").exists()

    for engine in ("dygraph", "inference", "onnx"):
        with pytest.raises(UserError, match=r"shape \[2, 16, 3, 3\] does not fit"):
            open_engine(engine, tiny_plain_run, folder, "cpu")(np.zeros((2, 16, 3, 3), np.float32))
    (broken / "generator.onnx").write_bytes(b"not a model")
    with pytest.raises(UserError, match="corrupt.*--onnx"):
        open_engine("onnx", tiny_plain_run, broken)
    (broken / "generator.onnx").unlink()
    with pytest.raises(UserError, match="no generator.onnx.*--onnx"):
        open_engine("onnx", tiny_plain_run, broken)
    (broken / METADATA).write_text("{")
    with pytest.raises(UserError, match="corrupt"):
        open_engine("inference", tiny_plain_run, broken)
    (broken / METADATA).unlink()
    with pytest.raises(UserError, match="not a paddle-dcgan export"):
        open_engine("inference", tiny_plain_run, broken)
    with pytest.raises(UserError, match="'.*none/export' not found"):  # the run folder itself is missing
        open_engine("onnx", tmp_path / "none")


def test_export_errors_write_nothing(tiny_plain_run, tmp_path):
    assert_one_line_error(run_tool("export.py", "--run", str(tmp_path / "none"), cwd=tmp_path, check=False),
                          "not found", "train first")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert_one_line_error(run_tool("export.py", "--run", str(tiny_plain_run), "--out", str(a_file), cwd=tmp_path,
                                   check=False), "is a file")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert_one_line_error(run_tool("export.py", "--run", str(tiny_plain_run), "--out", str(other), cwd=tmp_path,
                                   check=False), "not part of an export")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    result = run_without("paddle2onnx", "export.py", "--run", str(tiny_plain_run), "--onnx", "--out",
                         str(tmp_path / "new"), cwd=tmp_path)
    assert_one_line_error(result, "paddle2onnx", 'pip install -e ".[export]"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "other"]


def test_export_again_replaces_the_folder(exported, tiny_plain_run, tmp_path):
    folder, _ = exported
    again = tmp_path / "again"
    shutil.copytree(folder, again)
    run_tool("export.py", "--checkpoint", str(tiny_plain_run / "checkpoints" / "step_00000010.pdckpt"), "--out",
             str(again), cwd=tmp_path)
    assert sorted(p.name for p in again.iterdir()) == ["generator.json", "generator.pdiparams", "metadata.json"]
    meta = read_metadata(again)
    assert meta["files"]["onnx"] is None and meta["source"].endswith("step_00000010.pdckpt")
    assert set(meta["parity_max_abs_diff"]) == {"inference"}
    assert not list(tmp_path.glob(".again.tmp-*"))  # the staging folder is gone


@pytest.fixture(scope="module")
def cond_exported(tiny_cond_run):
    """tools/export.py --onnx of the conditional tiny run."""
    run_tool("export.py", "--run", str(tiny_cond_run), "--onnx", cwd=tiny_cond_run.parent)
    return tiny_cond_run / "export"


def test_conditional_export_takes_labels(cond_exported, tiny_cond_run):
    meta = read_metadata(cond_exported)
    assert meta["num_classes"] == 10 and meta["model"]["num_classes"] == 10
    assert meta["labels_input"] == {"name": "labels", "shape": [None], "dtype": "int64"}
    assert max(meta["parity_max_abs_diff"].values()) <= PARITY_TOLERANCE
    generator, _ = load_generator(tiny_cond_run)
    inference = InferenceEngine(cond_exported, meta, "cpu")
    onnx = OnnxEngine(cond_exported, meta, "cpu")
    assert inference.num_classes == onnx.num_classes == 10
    for n, seed in ((30, 0), (1, 5), (7, 9)):
        z, labels = noise_for_seed(seed, n, 16), np.arange(n) % 10
        reference = generate(generator, z, labels)
        for engine in (inference, onnx):
            assert np.abs(engine(z, labels) - reference).max() <= 1e-4, engine.name
    z = noise_for_seed(0, 10, 16)
    assert np.abs(onnx(z, np.full(10, 3)) - onnx(z, np.full(10, 8))).max() > 1e-3  # the labels reach the program
    for engine in (inference, onnx):
        with pytest.raises(UserError, match="conditional .*pass labels"):
            engine(z)
        with pytest.raises(UserError, match="takes class ids, not the mix"):
            engine(z, np.full((10, 10), 0.1, np.float32))


def test_unconditional_export_refuses_labels(exported, tiny_plain_run):
    folder, _ = exported
    assert read_metadata(folder)["num_classes"] == 0 and read_metadata(folder)["labels_input"] is None
    for engine in ("inference", "onnx"):
        with pytest.raises(UserError, match="unconditional .*takes no labels"):
            open_engine(engine, tiny_plain_run, folder, "cpu")(noise_for_seed(0, 2, 16), np.array([1, 2]))


def test_metadata_from_before_num_classes_means_unconditional(exported, tmp_path):
    folder, _ = exported
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    meta = json.loads((old / METADATA).read_text())
    for key in ("num_classes", "labels_input"):
        del meta[key]
    (old / METADATA).write_text(json.dumps(meta))
    assert read_metadata(old)["num_classes"] == 0
    assert InferenceEngine(old, read_metadata(old), "cpu")(noise_for_seed(0, 2, 16)).shape == (2, 1, 28, 28)
    meta["num_classes"] = -1
    (old / METADATA).write_text(json.dumps(meta))
    with pytest.raises(UserError, match="corrupt"):
        read_metadata(old)


def test_infer_tool_conditional_engines_agree(cond_exported, tiny_cond_run, tmp_path):
    arrays = {}
    for engine in ("dygraph", "inference", "onnx"):
        run_tool("infer.py", "--run", str(tiny_cond_run), "--engine", engine, "--digit", "4", "-n", "12", "--npy",
                 "--out", str(tmp_path / engine), cwd=tmp_path)
        arrays[engine] = np.load(tmp_path / engine / "samples_seed0_digit4.npy").astype(int)
    assert np.abs(arrays["inference"] - arrays["dygraph"]).max() <= 1
    assert np.abs(arrays["onnx"] - arrays["dygraph"]).max() <= 1
    result = run_tool("infer.py", "--run", str(tiny_cond_run), "--engine", "onnx", "--interpolate", "3", "7",
                      "--digits", "1", "4", "--out", str(tmp_path / "walk"), cwd=tmp_path, check=False)
    assert_one_line_error(result, "dygraph engine", "--digits D D")
