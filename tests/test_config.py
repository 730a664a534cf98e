import pytest

from paddle_dcgan.config import SHOWN, Config, load_config, parse_overrides, path_problem, shown
from paddle_dcgan.errors import UserError

from conftest import ROOT, assert_one_line_error, run_tool


def test_shipped_config_only_overrides_defaults():
    cfg = load_config(str(ROOT / "configs" / "dcgan.yaml"))
    assert cfg.run_name == "dcgan"
    assert cfg.model.image_size == 28 and cfg.train.batch_size == 64 and cfg.data.name == "auto"
    assert cfg.optim.lr_g == cfg.optim.lr_d == 1.2e-3 and cfg.optim.beta1 == 0.5
    assert cfg.train.ema_halflife == 5000 and cfg.model.sample_bn == "running"


def test_overrides_are_typed_and_win(tmp_path):
    file = tmp_path / "x.yaml"
    file.write_text("train:\n  epochs: 3\nseed: 5\n")
    cfg = load_config(str(file), ["train.epochs=7", "optim.lr_d=1e-3", "device=cpu", "data.download=true",
                                  "optim.beta1=0"])
    assert cfg.run_name == "x" and cfg.seed == 5
    assert cfg.train.epochs == 7 and cfg.optim.lr_d == 1e-3 and cfg.device == "cpu"
    assert cfg.data.download is True and isinstance(cfg.optim.beta1, float)


def test_section_mapping_in_override():
    cfg = load_config(None, ["model={ngf: 16, ndf: 32}"])
    assert (cfg.model.ngf, cfg.model.ndf) == (16, 32)


def test_a_runs_config_yaml_loads_back(tmp_path):
    """The config.yaml a run writes is a valid -c file that gives the same config."""
    cfg = load_config(None, ["model.ngf=16", "run_name=r", "optim.lr_d=1e-4"])
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    assert load_config(str(tmp_path / "config.yaml")) == cfg


@pytest.mark.parametrize("overrides, fragment", [
    (["train.batchsize=3"], "did you mean 'train.batch_size'"),
    (["nope=1"], "unknown config key 'nope'"),
    (["train.epochs=ten"], "'train.epochs' must be an integer"),
    (["train.epochs=2.5"], "'train.epochs' must be an integer"),
    (["train.epochs=true"], "'train.epochs' must be an integer"),
    (["data.download=1"], "'data.download' must be true or false"),
    (["optim.lr_g=fast"], "'optim.lr_g' must be a number"),
    (["train.batch_size=0"], "'train.batch_size' = 0 is out of range"),
    (["optim.lr_g=-0.1"], "'optim.lr_g' = -0.1 is out of range"),
    (["optim.beta1=1"], "optim.beta1"),
    (["model.image_size=48"], "28, 32 or 64"),
    (["data.name=cifar"], "mnist_subset"),
    (["eval.reference=mnist"], "auto | mnist_yardstick | held_out"),
    (["data.name=fashion_mnist", "eval.reference=mnist_yardstick"], "auto or held_out when data.name=fashion_mnist"),
    (["train.ema_decay=1"], "'train.ema_decay' = 1.0 is out of range"),
    (["train.ema_decay=-0.5"], "0 (off) or 0 < decay < 1"),
    (["train.ema_halflife=-1"], "0 (off) or images >= 1"),
    (["train.ema_decay=0.999"], "'train.ema_halflife' = 5000 is out of range"),
    (["train.ema_halflife=5000", "train.ema_decay=0.999"], "0 to average G with train.ema_decay=0.999 instead"),
    (["train.ema_rampup=2"], "'train.ema_rampup' = 2.0 is out of range"),
    (["train.real_label=0.5"], "0.5 < label <= 1"),
    (["train.real_label=1.1"], "'train.real_label' = 1.1 is out of range"),
    (["model.sample_bn=batch"], "running | recomputed"),
    (["device=tpu"], "auto, cpu, gpu or gpu:N"),
    (["run_name=a/b"], "run_name"),
    (["train=3"], "is a section"),
    (["train.epochs.x=3"], "is not a section"),
    (["epochs"], "section.key=value"),
])
def test_bad_values_name_the_key(overrides, fragment):
    with pytest.raises(UserError, match=None) as info:
        load_config(None, overrides)
    assert fragment in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("train:\n  epochs: [1\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        load_config(str(broken))
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(str(listing))
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  ngf_: 3\n")
    with pytest.raises(UserError, match="did you mean 'model.ngf'"):
        load_config(str(typo))
    for text in ("", "# only a comment\n"):
        empty = tmp_path / "empty.yaml"
        empty.write_text(text)
        with pytest.raises(UserError, match=f"config file '{empty}' is empty"):
            load_config(str(empty))


def test_both_override_styles():
    assert parse_overrides(["a.b=1", "c=x y", "d="]) == [("a.b", 1), ("c", "x y"), ("d", "")]


def test_cli_errors_are_one_line_exit_2(tmp_path):
    assert_one_line_error(run_tool("train.py", "-o", "train.batchsize=3", cwd=tmp_path, check=False),
                          "unknown config key 'train.batchsize'", "train.batch_size")
    assert_one_line_error(run_tool("train.py", "-c", "nowhere.yaml", cwd=tmp_path, check=False), "nowhere.yaml")
    assert_one_line_error(run_tool("train.py", "--bogus", cwd=tmp_path, check=False), "--bogus")
    assert not (tmp_path / "output").exists()


def test_cli_accepts_both_override_forms(tmp_path):
    result = run_tool("train.py", "-c", str(ROOT / "configs/dcgan.yaml"), "-o", "train.epochs=2", "model.ngf=0",
                      "-o", "seed=3", cwd=tmp_path, check=False)
    assert_one_line_error(result, "model.ngf")  # the second item of the first -o was read


def test_plain_config_is_the_tutorial_recipe():
    plain = load_config(str(ROOT / "configs" / "dcgan_plain.yaml"))
    assert (plain.optim.lr_g, plain.optim.lr_d, plain.optim.beta1) == (2e-4, 2e-4, 0.5)
    assert (plain.train.ema_decay, plain.train.real_label, plain.model.sample_bn) == (0.0, 1.0, "running")
    assert plain.train.ema_halflife == 0 and plain.train.loss == "bce" and plain.optim.lr_decay == 0
    assert (plain.model.ngf, plain.model.ndf, plain.train.batch_size) == (64, 64, 64)


def test_defaults_match_the_shipped_config():
    # tools run without -c use the dataclass defaults; configs/dcgan.yaml restates them
    defaults = load_config(None)
    assert defaults == load_config(str(ROOT / "configs" / "dcgan.yaml")) and defaults.run_name == "dcgan"
    assert Config().train.epochs == defaults.train.epochs


def test_what_odd_but_harmless_files_mean(tmp_path):
    """A UTF-8 byte order mark is dropped; a section whose keys are all commented out changes nothing."""
    file = tmp_path / "odd.yaml"
    file.write_bytes(b"\xef\xbb\xbfseed: 4\ntrain:\n  # epochs: 3\n")
    cfg = load_config(str(file))
    assert cfg.seed == 4 and cfg.train == Config().train


def test_overrides_may_repeat_a_key_and_the_last_wins():
    assert load_config(None, ["seed=1", "seed=2"]).seed == 2
    assert parse_overrides(["seed=2024-13-45"]) == [("seed", "2024-13-45")]  # no such date: a plain string


def test_quoted_values_are_cut():
    assert shown("x" * 10) == repr("x" * 10)
    for value in ("x" * 100_000, list(range(100_000)), [[[[[[1]]]]]] * 1000, 10 ** 4000):
        assert len(shown(value)) <= SHOWN
    with pytest.raises(UserError) as info:
        load_config(None, ["device=" + "d" * 100_000])
    assert len(str(info.value)) < SHOWN + 100


@pytest.mark.parametrize("path, fragment", [
    ("a\0b", "NUL byte"), ("a/" + "b" * 256, "name of 256 bytes"), ("/a" * 2048, "4,096 bytes long"),
    ("\ud800", "lone surrogate"),
])
def test_paths_the_system_cannot_name(path, fragment):
    assert fragment in path_problem(path)
    assert path_problem("b" * 255) is path_problem("é" * 127) is path_problem("") is None
