"""Export (paddle.jit.save, ONNX), the three engines agreeing, and their errors."""

import json
import logging
import shutil
import warnings

import numpy as np
import paddle
import pytest
import paddle.nn.functional as F

from paddle_dcgan.sampling.engines import InferenceEngine, OnnxEngine, check_program, open_engine
from paddle_dcgan.errors import UserError
from paddle_dcgan.files.export_folder import MAX_METADATA_BYTES, ONNX_FILE, PARAMS, PROGRAM, digest
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
    assert set(meta["files"]) == {"generator.json", "generator.pdiparams", "generator.onnx"}
    for name, recorded in meta["files"].items():
        assert recorded == digest(folder / name) and recorded["size"] == (folder / name).stat().st_size
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
    _record_files(tmp_path)
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
    _record_files(broken)  # files that match their digests but are no program: the engine's own check
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
        with pytest.raises(UserError, match="holds NaN, inf"):
            open_engine(engine, tiny_plain_run, folder, "cpu")(np.full((2, 16, 1, 1), np.nan, np.float32))
    (broken / "generator.onnx").write_bytes(b"not a model")
    _record_files(broken)
    with pytest.raises(UserError, match="corrupt.*--onnx"):
        open_engine("onnx", tiny_plain_run, broken)
    (broken / "generator.onnx").unlink()
    with pytest.raises(UserError, match=r"incomplete \(generator.onnx is missing\).*export again"):
        open_engine("onnx", tiny_plain_run, broken)
    _record_files(broken)
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


def _record_files(folder):
    """Record the current size and sha256 of the folder's program, weights and ONNX file in its metadata.json,
    as an export would: the files then pass the digest check, whatever they hold."""
    meta = json.loads((folder / METADATA).read_text())
    meta["files"] = {name: digest(folder / name) for name in (PROGRAM, PARAMS, ONNX_FILE) if (folder / name).exists()}
    (folder / METADATA).write_text(json.dumps(meta))


def _copy_with_metadata(folder, to, **changes):
    """A copy of the export ``folder`` at ``to`` whose metadata.json has ``changes``; returns ``to``."""
    shutil.copytree(folder, to)
    meta = json.loads((to / METADATA).read_text())
    (to / METADATA).write_text(json.dumps({**meta, **changes}))
    return to


@pytest.mark.parametrize("name,engine,damage", [(PARAMS, "inference", "cut in half"), (PARAMS, "onnx", "one flipped byte"),
                                                (ONNX_FILE, "onnx", "one flipped byte"),
                                                (PROGRAM, "inference", "one flipped byte")])
def test_a_damaged_export_is_one_line_naming_the_file(exported, tmp_path, name, engine, damage):
    """A file cut short or with one byte changed fails its recorded size or sha256: no images from it."""
    folder, _ = exported
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    data = bytearray((damaged / name).read_bytes())
    if damage == "cut in half":
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x10
    (damaged / name).write_bytes(bytes(data))
    result = run_tool("infer.py", "--engine", engine, "--export", str(damaged), "--out", str(tmp_path / "o"),
                      cwd=tmp_path, check=False)
    assert_one_line_error(result, f"{name} ", "cut short" if damage == "cut in half" else "sha256",
                          "export again with python tools/export.py")
    assert not (tmp_path / "o").exists()


def test_metadata_without_digests_is_refused(exported, tmp_path):
    """Metadata written before files were digested (version 1) cannot vouch for its files: export again."""
    folder, _ = exported
    meta = json.loads((folder / METADATA).read_text())
    for key in ("num_classes", "labels_input"):
        del meta[key]
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / METADATA).write_text(json.dumps({**meta, "version": 1,
                                            "files": {"program": PROGRAM, "params": PARAMS, "onnx": ONNX_FILE}}))
    result = run_tool("infer.py", "--engine", "inference", "--export", str(old), "--out", str(tmp_path / "o"),
                      cwd=tmp_path, check=False)
    assert_one_line_error(result, "earlier paddle-dcgan", "no file digests", "export again")
    with pytest.raises(UserError, match="newer paddle-dcgan"):
        read_metadata(_copy_with_metadata(folder, tmp_path / "newer", version=3))


LABELS = {"name": "labels", "shape": [None], "dtype": "int64"}
BAD_METADATA = [  # (what, metadata.json's text made from the good one's dict, fragment of the error)
    ("a key twice", lambda m: '{"nz": 99, ' + json.dumps(m)[1:], "key 'nz' appears twice"),
    ("NaN", lambda m: json.dumps({**m, "step": float("nan")}), "NaN is not a number"),
    ("Infinity", lambda m: json.dumps({**m, "nz": float("inf")}), "Infinity is not a number"),
    ("1e999", lambda m: json.dumps(m).replace('"step": 10', '"step": 1e999'), "'1e999' is not a finite number"),
    ("nz as text", lambda m: json.dumps({**m, "nz": "16"}), "nz is '16', expected an integer"),
    ("nz true", lambda m: json.dumps({**m, "nz": True}), "nz is True"),
    ("nz 16.0", lambda m: json.dumps({**m, "nz": 16.0}), "nz is 16.0"),
    ("nz 0", lambda m: json.dumps({**m, "nz": 0}), "nz is 0"),
    ("nz huge", lambda m: json.dumps({**m, "nz": 10 ** 9}), "nz is 1000000000"),
    ("image_size 30", lambda m: json.dumps({**m, "image_size": 30}), "image_size is 30, expected 28, 32 or 64"),
    ("channels 2", lambda m: json.dumps({**m, "channels": 2}), "channels is 2, expected 1 or 3"),
    ("num_classes -1", lambda m: json.dumps({**m, "num_classes": -1}), "num_classes is -1"),
    ("num_classes 2.5", lambda m: json.dumps({**m, "num_classes": 2.5}), "num_classes is 2.5"),
    ("num_classes without labels", lambda m: json.dumps({**m, "num_classes": 10}), "labels_input is None"),
    ("step -1", lambda m: json.dumps({**m, "step": -1}), "step is -1"),
    ("version as text", lambda m: json.dumps({**m, "version": "2"}), "version is '2'"),
    ("input for another nz", lambda m: json.dumps({**m, "input": {**m["input"], "shape": [None, 17, 1, 1]}}),
     "input is"),
    ("output for another size", lambda m: json.dumps({**m, "output": {"shape": [None, 1, 32, 32]}}), "output is"),
    ("no files", lambda m: json.dumps({k: v for k, v in m.items() if k != "files"}), "files is None"),
    ("a file without its digest", lambda m: json.dumps({**m, "files": {**m["files"], PARAMS: {"size": 1}}}),
     "the record of generator.pdiparams"),
    ("an unknown file", lambda m: json.dumps({**m, "files": {**m["files"], "other.bin": m["files"][PARAMS]}}),
     "files is"),
    ("a list", lambda m: "[]", "not the metadata of a paddle-dcgan export"),
    ("deeply nested", lambda m: "[" * 50_000, "not JSON"),
    ("not UTF-8", lambda m: "\udcff", "not JSON"),
    ("huge", lambda m: json.dumps(m) + " " * MAX_METADATA_BYTES, "larger than 64 KiB"),
]


@pytest.mark.parametrize("what,change,fragment", BAD_METADATA, ids=[case[0] for case in BAD_METADATA])
def test_metadata_that_no_export_writes_is_refused(exported, tmp_path, what, change, fragment):
    folder, _ = exported
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / METADATA).write_bytes(change(read_metadata(folder)).encode("utf-8", "surrogateescape"))
    with pytest.raises(UserError) as error:
        read_metadata(bad)
    assert fragment in str(error.value) and "tools/export.py" in str(error.value), str(error.value)


def test_bad_metadata_through_the_tool(exported, tmp_path):
    folder, _ = exported
    for what, change, fragment in BAD_METADATA[:2] + BAD_METADATA[4:5]:  # a key twice, NaN, text for a number
        bad = tmp_path / what.replace(" ", "_")
        shutil.copytree(folder, bad)
        (bad / METADATA).write_text(change(read_metadata(folder)))
        result = run_tool("infer.py", "--engine", "onnx", "--export", str(bad), "--out", str(tmp_path / "o"),
                          cwd=tmp_path, check=False)
        assert_one_line_error(result, fragment, "export again")
    assert not (tmp_path / "o").exists()


def test_conditional_metadata_beside_a_program_without_labels(exported, tmp_path):
    """--digit 7 is refused, not dropped, when metadata.json says conditional and the program takes no labels."""
    folder, _ = exported
    says_conditional = _copy_with_metadata(folder, tmp_path / "says_conditional", num_classes=10, labels_input=LABELS)
    for engine, file in (("inference", PROGRAM), ("onnx", ONNX_FILE)):
        result = run_tool("infer.py", "--engine", engine, "--export", str(says_conditional), "--digit", "7",
                          "--out", str(tmp_path / "o"), cwd=tmp_path, check=False)
        assert_one_line_error(result, "disagrees with its metadata.json", f"{file} takes z float32 [N, 16, 1, 1] ",
                              "says z float32 [N, 16, 1, 1], labels int64 [N]", "export again")
    assert not (tmp_path / "o").exists()


def test_other_disagreements_between_metadata_and_program(exported, cond_exported, tmp_path):
    folder, _ = exported
    cases = [  # (export, metadata changes, fragment)
        (cond_exported, {"num_classes": 0, "labels_input": None}, "takes z float32 [N, 16, 1, 1], labels int64 [N] "),
        (folder, {"nz": 17, "input": {"name": "z", "shape": [None, 17, 1, 1], "dtype": "float32"}},
         "says z float32 [N, 17, 1, 1]"),
        (folder, {"channels": 3, "output": {"shape": [None, 3, 28, 28]}}, "returns float32 [2, 1, 28, 28]"),
        (folder, {"image_size": 32, "output": {"shape": [None, 1, 32, 32]}}, "says float32 [2, 1, 32, 32]"),
    ]
    for i, (export, changes, fragment) in enumerate(cases):
        edited = _copy_with_metadata(export, tmp_path / str(i), **changes)
        for engine in (InferenceEngine, OnnxEngine):
            with pytest.raises(UserError, match="disagrees") as error:
                engine(edited, read_metadata(edited), "cpu")
            assert fragment in str(error.value) and "export again" in str(error.value), str(error.value)
    meta = read_metadata(cond_exported)
    with pytest.raises(UserError, match="labels int32"):  # labels of another type than metadata.json says
        check_program(cond_exported, PROGRAM, meta, inputs=[meta["input"], {**LABELS, "dtype": "int32"}])
    with pytest.raises(UserError, match=r"outside \[-1, 1\]"):
        check_program(cond_exported, PROGRAM, meta, output=np.full((2, 1, 28, 28), np.nan, np.float32))


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
    assert set(meta["files"]) == {PROGRAM, PARAMS} and meta["source"].endswith("step_00000010.pdckpt")
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
