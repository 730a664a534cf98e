import paddle
import pytest

from paddle_dcgan import runtime
from paddle_dcgan.errors import UserError


def test_cpu_settings_respect_the_user(monkeypatch):
    monkeypatch.setattr(runtime, "APPLIED", {})
    monkeypatch.setattr(runtime, "SKIPPED", {})
    monkeypatch.setattr(runtime, "_cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.delitem(runtime.sys.modules, "paddle")  # pretend paddle is not imported yet
    env = {"OMP_NUM_THREADS": "1"}
    runtime.configure_cpu_env(env)
    assert env["OMP_NUM_THREADS"] == "1" and env["MKL_DEBUG_CPU_TYPE"] == "5"
    assert "OMP_NUM_THREADS=1 (yours)" in runtime.describe_cpu_env()


def test_mkl_override_only_on_amd(monkeypatch):
    monkeypatch.setattr(runtime, "_cpu_vendor", lambda: "GenuineIntel")
    monkeypatch.delitem(runtime.sys.modules, "paddle")
    env: dict = {}
    runtime.configure_cpu_env(env)
    assert "MKL_DEBUG_CPU_TYPE" not in env and env["OMP_NUM_THREADS"] == str(runtime.usable_cores())


def test_tuning_can_be_switched_off(monkeypatch):
    monkeypatch.delitem(runtime.sys.modules, "paddle")
    env = {"PADDLE_DCGAN_CPU_TUNING": "0"}
    runtime.configure_cpu_env(env)
    assert "OMP_NUM_THREADS" not in env and "MKL_DEBUG_CPU_TYPE" not in env


def test_too_late_is_reported(monkeypatch):
    monkeypatch.setattr(runtime, "SKIPPED", {})
    env: dict = {}
    runtime.configure_cpu_env(env)  # paddle is imported in this process already
    assert "OMP_NUM_THREADS" not in env and runtime.SKIPPED["OMP_NUM_THREADS"] == "paddle was imported first"


@pytest.mark.skipif(paddle.device.is_compiled_with_cuda(), reason="checks the CPU-only build's behaviour")
def test_devices_on_a_cpu_build():
    assert runtime.select_device("auto").startswith("cpu (auto:")
    assert runtime.select_device("cpu") == "cpu"
    for request in ("gpu", "gpu:1"):
        with pytest.raises(UserError, match="CPU-only build"):
            runtime.select_device(request)
