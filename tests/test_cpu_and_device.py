"""CPU tuning is explicit and reports what it did; devices are checked; importing changes nothing."""

import json
import subprocess
import sys

import paddle
import pytest

from paddle_dcgan import cpu_tuning
from paddle_dcgan.device import select_device
from paddle_dcgan.errors import UserError


@pytest.fixture
def fresh_tuning(monkeypatch):
    """cpu_tuning as if in a new process where paddle is not imported yet."""
    monkeypatch.setattr(cpu_tuning, "_DECISIONS", {})
    monkeypatch.setattr(cpu_tuning, "_STATE", {"called": False, "too_late": False, "off": False})
    monkeypatch.setattr(cpu_tuning, "_import_paddle_quietly", lambda: None)
    monkeypatch.delitem(sys.modules, "paddle")


def test_tuning_respects_the_users_settings(fresh_tuning, monkeypatch):
    monkeypatch.setattr(cpu_tuning, "_cpu_vendor", lambda: "AuthenticAMD")
    env = {"OMP_NUM_THREADS": "1"}
    summary = cpu_tuning.tune_cpu(env)
    assert env["OMP_NUM_THREADS"] == "1" and env["MKL_DEBUG_CPU_TYPE"] == "5"
    assert "OMP_NUM_THREADS=1 (yours)" in summary and "MKL_DEBUG_CPU_TYPE=5 (set by" in summary


def test_mkl_override_only_on_amd(fresh_tuning, monkeypatch):
    monkeypatch.setattr(cpu_tuning, "_cpu_vendor", lambda: "GenuineIntel")
    env: dict = {}
    cpu_tuning.tune_cpu(env)
    assert "MKL_DEBUG_CPU_TYPE" not in env and env["OMP_NUM_THREADS"] == str(cpu_tuning.usable_cores())


def test_tuning_can_be_switched_off(fresh_tuning):
    env = {"PADDLE_DCGAN_CPU_TUNING": "0"}
    assert "off" in cpu_tuning.tune_cpu(env)
    assert set(env) == {"PADDLE_DCGAN_CPU_TUNING"}


def test_not_calling_it_is_reported(fresh_tuning):
    assert "not applied" in cpu_tuning.describe() and "tune_cpu()" in cpu_tuning.describe()


def test_too_late_is_reported(monkeypatch, caplog):
    monkeypatch.setattr(cpu_tuning, "_STATE", {"called": False, "too_late": False, "off": False})
    env: dict = {}
    summary = cpu_tuning.tune_cpu(env)  # paddle is imported in this process already
    assert env == {} and "too late" in summary
    assert "came after paddle was imported" in caplog.text


# The check runs in a fresh interpreter: this one has imported paddle long ago.
_FRESH = r"""
import json, os, sys, warnings
import matplotlib
before = (dict(os.environ), [repr(f) for f in warnings.filters], matplotlib.get_backend())
import paddle_dcgan
after_import = (dict(os.environ), [repr(f) for f in warnings.filters], matplotlib.get_backend())
paddle_imported = "paddle" in sys.modules
cfg = paddle_dcgan.load_config(None, ["train.epochs=1"])
G = paddle_dcgan.Generator(28, nz=8, ngf=4)
paddle_dcgan.show_grid(paddle_dcgan.sample(G, 4))
after_use = (dict(os.environ), [repr(f) for f in warnings.filters], matplotlib.get_backend())
print(json.dumps({"before": before, "after_import": after_import, "after_use": after_use,
                  "paddle_imported": paddle_imported}))
"""


def _env_changes(a: dict, b: dict) -> set:
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_import_changes_nothing():
    out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True,
                         env={k: v for k, v in __import__("os").environ.items() if k != "MPLBACKEND"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    before, after_import, after_use = result["before"], result["after_import"], result["after_use"]
    assert after_import == before  # environment, warning filters and backend exactly as they were
    assert not result["paddle_imported"]  # the API is loaded on first use
    # using the API imports paddle, which itself sets OMP_NUM_THREADS=1 and CUSTOM_DEVICE_ROOT when unset;
    # the package adds nothing of its own and leaves matplotlib's backend alone
    assert _env_changes(before[0], after_use[0]) <= {"OMP_NUM_THREADS", "CUSTOM_DEVICE_ROOT"}
    assert after_use[2] == before[2]
    assert not any("When training" in f or "ccache" in f for f in after_use[1])


def test_tune_cpu_sets_only_what_it_documents():
    code = ("import json, os\nbefore = dict(os.environ)\nimport paddle_dcgan\nline = paddle_dcgan.tune_cpu()\n"
            "print(json.dumps([before, dict(os.environ), line]))")
    unset = {*cpu_tuning.wanted_settings(), *cpu_tuning.MALLOC_VARIABLES, "PADDLE_DCGAN_CPU_TUNING"}
    env = {k: v for k, v in __import__("os").environ.items() if k not in unset}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    before, after, line = json.loads(out.stdout.strip().splitlines()[-1])
    changed = _env_changes(before, after)
    assert set(cpu_tuning.wanted_settings()) <= changed
    assert changed <= set(cpu_tuning.wanted_settings()) | {"CUSTOM_DEVICE_ROOT"}  # the latter: paddle's import
    assert f"OMP_NUM_THREADS={cpu_tuning.usable_cores()} (set by paddle_dcgan.tune_cpu)" in line
    assert "malloc=keeps freed memory (set by paddle_dcgan.tune_cpu)" in line  # glibc here
    assert "No ccache" not in out.stderr
    # a malloc setting of the user's own stands
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "MALLOC_TRIM_THRESHOLD_": "131072"})
    assert "malloc=glibc's settings (yours)" in json.loads(out.stdout.strip().splitlines()[-1])[2]


def test_freed_memory_is_kept_for_the_next_tensor():
    """What keep_freed_memory() is for: a big tensor made again and again costs no fresh pages."""
    import resource

    assert cpu_tuning.keep_freed_memory()  # glibc (conftest's tune_cpu() has made the same call)
    x = paddle.ones([128, 64, 14, 14])
    (x + x).numpy()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        x + x
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 5 * 1568 / 4, faults  # a 6.4 MB result mapped afresh would fault ~1,568 pages each time


@pytest.mark.skipif(paddle.device.is_compiled_with_cuda(), reason="checks the CPU-only build's behaviour")
def test_devices_on_a_cpu_build():
    assert select_device("auto").startswith("cpu (auto:")
    assert select_device("cpu") == "cpu"
    for request in ("gpu", "gpu:1"):
        with pytest.raises(UserError, match="CPU-only build"):
            select_device(request)
    for request in ("tpu", "gpu:x", "GPU"):
        with pytest.raises(UserError, match="not one of auto, cpu, gpu, gpu:N"):
            select_device(request)
