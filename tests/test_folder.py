"""Training on a folder of your own pictures (data.name=folder): reading, the cache, the run, the tools."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_tool
from paddle_dcgan.data import folder as folders
from paddle_dcgan.errors import UserError

# tiny nets; data.name and model.image_size are the folder's
SMALL = ["model.ngf=8", "model.ndf=8", "model.nz=16", "train.batch_size=10", "train.log_every=5",
         "train.num_fixed_samples=12", "data.name=folder", "model.image_size=32"]
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 220)}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test keeps its decoded folders in a cache of its own (the tools read PADDLE_DCGAN_CACHE too)."""
    monkeypatch.setenv("PADDLE_DCGAN_CACHE", str(tmp_path / "cache"))


def square(colour, rng, size=(40, 30)) -> Image.Image:
    """A white picture with a coloured square at a random place."""
    pixels = np.full((size[1], size[0], 3), 255, np.uint8)
    x, y = rng.integers(0, min(size) - 12, 2)
    pixels[y:y + 12, x:x + 12] = colour
    return Image.fromarray(pixels)


def make_labelled(root: Path, per_class: int = 20, seed: int = 0) -> Path:
    """Three colour classes, PNG and JPEG mixed, of mixed sizes; one picture one folder deeper."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name / "more").mkdir(parents=True)
        for i in range(per_class):
            where = root / name / ("more" if i == 0 else "")
            square(colour, rng, (40 + i % 3 * 10, 30)).save(where / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    (root / "notes.txt").write_text("not a picture")  # other files are left alone
    (root / ".ipynb_checkpoints").mkdir()  # hidden folders are not classes
    return root


def make_unlabelled(root: Path, count: int = 24, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(root / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """Two epochs on a labelled colour folder, trained by the real tool: (cwd, run folder, picture folder)."""
    cwd = tmp_path_factory.mktemp("colour_run")
    pictures = make_labelled(cwd / "pictures")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PADDLE_DCGAN_CACHE", str(cwd / "cache"))
        run_tool("train.py", "-o", *SMALL, f"data.dir={pictures}", "train.epochs=2", "run_name=colour", cwd=cwd)
    return cwd, cwd / "output" / "colour", pictures


# ------------------------------------------------------------------ reading a folder
def test_labelled_folder_gives_classes_split_and_colour(tmp_path):
    found = folders.load(make_labelled(tmp_path / "p"), 32)
    assert found.class_names == ("blue", "green", "red")
    assert found.images.shape == (60, 3, 32, 32) and found.images.dtype == np.uint8 and found.colour
    assert np.bincount(found.labels).tolist() == [20, 20, 20]
    assert np.bincount(found.labels[found.held_out]).tolist() == [2, 2, 2]  # a tenth of each class
    # the class really is the folder's colour: red pictures have more red than blue in them
    red = found.images[found.labels == 2].astype(int)
    assert (red[:, 0] - red[:, 2]).sum() > 0
    # the split depends on the names alone: a second folder with the same names holds out the same files
    again = folders.load(make_labelled(tmp_path / "q", seed=5), 32)
    assert (again.held_out == found.held_out).all()


def test_unlabelled_grey_folder(tmp_path):
    found = folders.load(make_unlabelled(tmp_path / "u"), 28)
    assert found.class_names == () and found.images.shape == (24, 1, 28, 28) and not found.colour
    assert found.held_out.sum() == 2


def test_conversions(tmp_path):
    """Palette with transparency, grey + alpha, CMYK, 16-bit grey, a wide picture: 8-bit, cropped to the centre."""
    root = tmp_path / "modes"
    root.mkdir()
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0] + [255, 0, 0] * 255)
    palette.info["transparency"] = 0  # every pixel is transparent: white
    palette.save(root / "a_palette.png", transparency=0)
    Image.new("LA", (8, 8), (0, 0)).save(root / "b_grey_alpha.png")  # transparent black -> white
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(root / "c_cmyk.jpg")  # red in CMYK
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(root / "d_16bit.png")  # white at 16 bits
    wide = np.zeros((8, 24, 3), np.uint8)
    wide[:, 8:16] = (0, 0, 255)  # the centre third is blue, the sides black
    Image.fromarray(wide).save(root / "e_wide.png")
    found = folders.load(root, 8)
    images = found.images.astype(int)
    assert images.shape == (5, 3, 8, 8)
    assert (images[0] == 255).all() and (images[1] == 255).all() and (images[3] == 255).all()
    assert images[2, 0].mean() > 200 and images[2, 1].mean() < 60  # red
    assert images[4, 2].min() > 200 and images[4, 0].max() < 40  # only the blue centre is left


def test_channels_conversion():
    grey = np.arange(8, dtype=np.uint8).reshape(2, 1, 2, 2)
    assert (folders.with_channels(grey, 3) == grey).all() and folders.with_channels(grey, 3).shape == (2, 3, 2, 2)
    red = np.zeros((1, 3, 1, 1), np.uint8)
    red[0, 0] = 255
    assert folders.with_channels(red, 1).item() == 255 * 299 // 1000


# ------------------------------------------------------------------ the cache
def test_cache_is_used_and_a_changed_folder_is_decoded_again(tmp_path, monkeypatch, caplog):
    root = make_labelled(tmp_path / "p", per_class=4)
    first = folders.load(root, 32)
    calls = []
    real_decode = folders.decode
    monkeypatch.setattr(folders, "decode", lambda *a: calls.append(a) or real_decode(*a))
    second = folders.load(root, 32)
    assert calls == [] and (second.images == first.images).all() and second.class_names == first.class_names
    folders.load(root, 28)  # another size is another cache entry
    assert len(calls) == 12
    calls.clear()
    picture = root / "red" / "001.png"
    os.utime(picture, ns=(picture.stat().st_atime_ns, picture.stat().st_mtime_ns + 10**9))
    folders.load(root, 32)
    assert len(calls) == 12  # a changed file: the whole folder is read again


def test_damaged_or_foreign_cache_is_rebuilt_with_a_warning(tmp_path, caplog):
    a, b = make_labelled(tmp_path / "a", per_class=3), make_labelled(tmp_path / "b", per_class=3, seed=3)
    expected = folders.load(a, 16).images
    (cache_a,) = folders.cache_dir().iterdir()
    folders.load(b, 16)
    (cache_b,) = set(folders.cache_dir().iterdir()) - {cache_a}
    data = bytearray(cache_a.read_bytes())
    data[-5] ^= 0xFF  # one flipped bit in the pixels
    cache_a.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="paddle_dcgan"):
        assert (folders.load(a, 16).images == expected).all()
    assert "unusable" in caplog.text and "digest" in caplog.text
    caplog.clear()
    cache_a.write_bytes(cache_b.read_bytes())  # another folder's cache under this folder's name
    with caplog.at_level(logging.WARNING, logger="paddle_dcgan"):
        assert (folders.load(a, 16).images == expected).all()
    assert "belongs to" in caplog.text


def test_memory_is_checked_before_decoding(tmp_path, monkeypatch):
    root = make_unlabelled(tmp_path / "u")
    monkeypatch.setattr(folders, "_available_memory", lambda: 10_000)
    monkeypatch.setattr(folders, "decode", lambda *a: pytest.fail("decoded before the memory check"))
    with pytest.raises(UserError, match="GiB is free"):
        folders.load(root, 64)


# ------------------------------------------------------------------ bad folders, from the command line
def _train(cwd: Path, pictures: Path, *extra: str):
    return run_tool("train.py", "-o", *SMALL, f"data.dir={pictures}", "train.epochs=1", "run_name=bad", *extra,
                    cwd=cwd, check=False)


def _bad_folder(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A folder with one problem, and a fragment the error line must hold."""
    root = tmp_path / kind
    root.mkdir()
    if kind == "empty":
        return root, "holds no images"
    if kind == "no_images":
        (root / "a.txt").write_text("x")
        (root / "b.csv").write_text("1,2")
        return root, "holds no images"
    if kind == "one_image_class":
        make_labelled(root / "x", per_class=3)
        (root / "x" / "red" / "more" / "000.jpg").unlink()
        (root / "x" / "red" / "001.png").unlink()  # one picture left
        return root / "x", "holds 1 image(s)"
    if kind == "all_unreadable":
        for i in range(5):
            (root / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
        return root, "can be read"
    if kind == "loop":
        make_unlabelled(root / "top" / "cls")
        os.symlink(root / "top", root / "top" / "cls" / "back")
        make_unlabelled(root / "top" / "other")
        return root / "top", "symbolic link loop"
    if kind == "mixed_layout":
        make_labelled(root, per_class=3)
        square((0, 0, 0), np.random.default_rng(0)).save(root / "loose.png")
        return root, "loose.png"
    if kind == "bomb":
        make_unlabelled(root, count=4)
        Image.new("1", (12_000, 12_000)).save(root / "huge.png")  # 144 M pixels in a few kB
        return root, "decompression-bomb"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["empty", "no_images", "one_image_class", "all_unreadable", "loop", "mixed_layout",
                                  "bomb"])
def test_bad_folders_are_one_error_line_and_nothing_written(tmp_path, kind):
    pictures, fragment = _bad_folder(tmp_path, kind)
    result = _train(tmp_path, pictures)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "output").exists()


def test_conditional_model_on_unlabelled_pictures_names_the_fix(tmp_path):
    result = _train(tmp_path, make_unlabelled(tmp_path / "u"), "model.num_classes=10")
    assert_one_line_error(result, "no class sub-folders", "model.num_classes=0")
    labelled = make_labelled(tmp_path / "l", per_class=3)
    assert_one_line_error(_train(tmp_path, labelled, "model.num_classes=10"), "3 classes", "model.num_classes=auto")
    assert not (tmp_path / "output").exists()


def test_a_few_unreadable_files_are_skipped_with_one_warning(tmp_path):
    root = make_unlabelled(tmp_path / "u", count=40)
    (root / "cut.png").write_bytes((root / "000.png").read_bytes()[:60])  # a truncated PNG
    result = _train(tmp_path, root, "model.image_size=28", "train.log_every=100")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line and "cut.png" in line]
    assert len(warnings) == 1 and "skipped 1 unreadable file(s) of 41" in warnings[0]
    history = (tmp_path / "output" / "bad" / "train.log").read_text()
    assert "36 images" in history  # 40 good ones, less the held-out tenth


# ------------------------------------------------------------------ a run on pictures, and what comes after
def test_colour_run_keeps_classes_and_colour_everywhere(colour_run):
    cwd, run, pictures = colour_run
    log = (run / "train.log").read_text()
    assert "model.channels=auto: colour (3)" in log and "model.num_classes=auto: 3 class folders" in log
    grid = Image.open(run / "samples" / "epoch_002.png")
    assert grid.mode == "RGB"
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 2
    # the animation's first frame is epoch 1's grid in its own colours (not snapped to a fixed web palette)
    frame = np.asarray(gif.convert("RGB"), float)
    first = np.asarray(Image.open(run / "samples" / "epoch_001.png").reduce(2).convert("RGB"), float)
    assert frame.shape == first.shape and np.abs(frame - first).mean() < 2
    import paddle_dcgan

    G, info = paddle_dcgan.load_generator(run)
    assert info.class_names == ("blue", "green", "red") and info.model["channels"] == 3
    assert info.data_dir == str(pictures)
    images = paddle_dcgan.sample(G, 6, seed=0, digit="green")
    assert images.shape == (6, 3, 32, 32)
    assert (paddle_dcgan.sample(G, 6, seed=0, digit=1) == images).all()  # the name is the index
    import paddle

    from conftest import ROOT

    hub = paddle.hub.load(str(ROOT), "generator", source="local", run=str(run))
    assert hub.class_names == ("blue", "green", "red")
    assert (paddle_dcgan.sample(hub, 6, seed=0, digit="green") == images).all()


def test_infer_by_class_name_and_walk_between_classes(colour_run):
    cwd, run, _ = colour_run
    result = run_tool("infer.py", "--run", str(run), "--class", "red", "-n", "9", cwd=cwd)
    grid = run / "infer" / "grid_seed0_class2.png"
    assert grid.is_file() and Image.open(grid).mode == "RGB", result.stdout
    run_tool("infer.py", "--run", str(run), "--interpolate", "1", "2", "--digits", "red", "blue", "--steps", "4",
             cwd=cwd)
    assert (run / "infer" / "interpolate_seed1_seed2_digits2_0.gif").is_file()
    bad = run_tool("infer.py", "--run", str(run), "--class", "cat", cwd=cwd, check=False)
    assert_one_line_error(bad, "no class named 'cat'", "blue, green, red")


def test_resume_on_pictures_continues_exactly(colour_run, tmp_path):
    cwd, run, pictures = colour_run
    import paddle_dcgan

    base = ["-o", *SMALL, f"data.dir={pictures}", "run_name=split"]
    run_tool("train.py", *base, "train.epochs=1", cwd=cwd)
    run_tool("train.py", *base, "train.epochs=2", "--resume", "latest", cwd=cwd)
    G_split, _ = paddle_dcgan.load_generator(cwd / "output" / "split")
    G_whole, _ = paddle_dcgan.load_generator(run)
    for key, value in G_whole.state_dict().items():
        assert np.array_equal(value.numpy(), G_split.state_dict()[key].numpy()), key
    other = make_labelled(tmp_path / "other", per_class=3)
    moved = run_tool("train.py", "-o", *SMALL, f"data.dir={other}", "run_name=split", "train.epochs=3",
                     "--resume", "latest", cwd=cwd, check=False)
    assert_one_line_error(moved, "trained on the pictures in")


def test_export_keeps_class_names_and_parity(colour_run):
    cwd, run, _ = colour_run
    run_tool("export.py", "--run", str(run), "--onnx", cwd=cwd)
    metadata = json.loads((run / "export" / "metadata.json").read_text())
    assert metadata["class_names"] == ["blue", "green", "red"] and metadata["channels"] == 3
    assert max(metadata["parity_max_abs_diff"].values()) < 1e-4
    run_tool("infer.py", "--run", str(run), "--engine", "onnx", "--class", "blue", "-n", "4", "--npy", cwd=cwd)
    samples = np.load(run / "infer" / "samples_seed0_class0.npy")
    assert samples.shape == (4, 3, 32, 32)


def test_classifier_and_eval_on_the_folder(colour_run):
    cwd, run, pictures = colour_run
    trained = run_tool("train_classifier.py", "--data", "folder", "--data-dir", str(pictures), "--epochs", "4",
                       cwd=cwd)
    assert (cwd / "output" / "classifiers" / "pictures.pdclf").is_file(), trained.stdout
    run_tool("eval.py", "--run", str(run), cwd=cwd)
    report = json.loads((run / "eval" / "eval.json").read_text())
    assert report["reference"] == "folder" and report["reference_folder"] == str(pictures)
    assert report["class_names"] == ["blue", "green", "red"]
    assert report["num_samples"] == 6  # the held-out tenth: 2 of each class
    assert len(report["samples"]["per_digit_fid"]) == 3 and 0 <= report["samples"]["conditional_accuracy"] <= 1
    assert report["real_vs_real"]["fid"] < report["samples"]["fid"]


def test_eval_on_unlabelled_pictures_says_what_it_cannot_score(tmp_path):
    pictures = make_unlabelled(tmp_path / "u")
    assert _train(tmp_path, pictures, "model.image_size=28").returncode == 0
    result = run_tool("eval.py", "--run", str(tmp_path / "output" / "bad"), cwd=tmp_path, check=False)
    assert_one_line_error(result, "no class sub-folders", "cannot score")
    classifier = run_tool("train_classifier.py", "--data", "folder", "--data-dir", str(pictures), cwd=tmp_path,
                          check=False)
    assert_one_line_error(classifier, "no class sub-folders")


def test_real_folder_sets_are_drawn_in_mixed_order():
    """A folder's pictures lie class by class; the real sets mix them, so each split of the class score sees
    every class (in file order, a split of 100 would hold one class and score 1)."""
    from paddle_dcgan.evaluation.evaluate import RealSets
    from paddle_dcgan.evaluation.metrics import mnist_score

    labels = np.repeat(np.arange(10), 100)
    images = labels[:, None, None, None].astype(np.uint8)
    sets = RealSets._draw("folder", (images, labels), (images, labels), 1000, seed=0)
    for drawn in (sets.held_out_labels, sets.other_labels):
        assert sorted(drawn) == list(labels) and not np.array_equal(drawn, labels)
        assert mnist_score(np.eye(10)[drawn])[0] > 9  # a perfect classifier on a balanced mix scores ~10


@pytest.mark.slow
def test_two_processes_on_pictures_train_what_one_process_with_two_shards_trains(tmp_path):
    """Both launched processes read the folder (one cache file between them) and train the conditional colour
    model that one process with two BatchNorm shards trains."""
    from test_parallel import _assert_same_training, _launch

    pictures = make_labelled(tmp_path / "pictures")
    # paddle's kernels: the oneDNN ones choose an implementation per thread count by timing it (a launched process
    # has half the threads), and two choices agree only to rounding, which ten steps at 1.2e-3 grow past 1e-5.
    # Label planes only: with the default's projection these two runs on three classes end 5e-3 apart after ten
    # steps (tests/test_parallel.py's digit runs, which use the projection, agree to 1e-5)
    common = ["-o", *SMALL, f"data.dir={pictures}", "train.epochs=2", "train.kernels=paddle", "model.conditioning=planes"]
    launched = _launch(*common, f"output_dir={tmp_path / 'two'}", cwd=tmp_path, log_dir=tmp_path / "logs")
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    run_tool("train.py", *common, "train.shards=2", f"output_dir={tmp_path / 'one'}", cwd=tmp_path)
    two, one = (tmp_path / name / "dcgan" / "checkpoints" / "step_00000010.pdckpt" for name in ("two", "one"))
    _assert_same_training(two, one)
    assert len(list((tmp_path / "cache" / "images").iterdir())) == 1
    log = (tmp_path / "two" / "dcgan" / "train.log").read_text()
    assert "data-parallel over 2 processes" in log and "classes (index name): 0 blue, 1 green, 2 red" in log
