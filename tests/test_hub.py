"""hubconf.py: paddle.hub.load on a local clone returns a ready generator."""

import numpy as np
import paddle
import pytest

from paddle_dcgan.sampling.load import load_generator
from paddle_dcgan.core.models import Generator
from paddle_dcgan.sampling.sample import noise_for_seed

from conftest import ROOT


def test_paddle_hub_loads_a_ready_generator(tiny_plain_run):
    generator = paddle.hub.load(str(ROOT), "generator", source="local", run=str(tiny_plain_run))
    assert isinstance(generator, Generator) and not generator.training and generator.nz == 16
    reference, _ = load_generator(tiny_plain_run)
    z = paddle.to_tensor(noise_for_seed(0, 8, 16))
    with paddle.no_grad():
        np.testing.assert_array_equal(generator(z).numpy(), reference(z).numpy())
    assert paddle.hub.list(str(ROOT), source="local") == ["generator"]
    with pytest.raises(Exception, match="not found"):
        paddle.hub.load(str(ROOT), "generator", source="local", run=str(tiny_plain_run / "none"))
