import numpy as np
import paddle
import pytest

from paddle_dcgan.models import Discriminator, Generator, build_models, layout

# image_size -> expected output shape of each generator block for N=2, nz=16, ngf=8
G_SHAPES = {
    28: [[2, 16, 7, 7], [2, 8, 14, 14], [2, 1, 28, 28]],
    32: [[2, 32, 4, 4], [2, 16, 8, 8], [2, 8, 16, 16], [2, 1, 32, 32]],
    64: [[2, 64, 4, 4], [2, 32, 8, 8], [2, 16, 16, 16], [2, 8, 32, 32], [2, 1, 64, 64]],
}
# discriminator blocks for ndf=8, the last one being the logit map
D_SHAPES = {
    28: [[2, 8, 14, 14], [2, 16, 7, 7], [2, 1, 1, 1]],
    32: [[2, 8, 16, 16], [2, 16, 8, 8], [2, 32, 4, 4], [2, 1, 1, 1]],
    64: [[2, 8, 32, 32], [2, 16, 16, 16], [2, 32, 8, 8], [2, 64, 4, 4], [2, 1, 1, 1]],
}


@pytest.mark.parametrize("size", [28, 32, 64])
def test_block_shapes(size):
    paddle.seed(0)
    g, d = Generator(size, nz=16, ngf=8), Discriminator(size, ndf=8)
    x = paddle.randn([2, 16, 1, 1])
    for block, shape in zip(g.blocks, G_SHAPES[size], strict=True):
        x = block(x)
        assert list(x.shape) == shape
    assert float(x.abs().max()) <= 1.0  # Tanh output
    y = x
    for block, shape in zip(d.blocks, D_SHAPES[size], strict=True):
        y = block(y)
        assert list(y.shape) == shape
    assert list(d(x).shape) == [2]


def test_discriminator_structure():
    d = Discriminator(28, ndf=8)
    kinds = [[type(layer).__name__ for layer in block] if isinstance(block, paddle.nn.Sequential)
             else [type(block).__name__] for block in d.blocks]
    assert kinds == [["Conv2D", "LeakyReLU"], ["Conv2D", "BatchNorm2D", "LeakyReLU"], ["Conv2D"]]
    assert not any(isinstance(layer, (paddle.nn.Sigmoid, paddle.nn.Linear, paddle.nn.MaxPool2D))
                   for layer in d.sublayers())
    assert [c._stride for c in d.sublayers() if isinstance(c, paddle.nn.Conv2D)][:2] == [[2, 2], [2, 2]]


def test_unsupported_size():
    with pytest.raises(ValueError, match="image_size"):
        layout(48)


def test_dcgan_initialisation_statistics():
    paddle.seed(1)
    g, d = build_models(64, nz=100, ngf=64, ndf=64)
    convs = [layer.weight.numpy().ravel() for net in (g, d) for layer in net.sublayers()
             if isinstance(layer, (paddle.nn.Conv2D, paddle.nn.Conv2DTranspose))]
    weights = np.concatenate(convs)
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 1e-3
    bns = [layer for net in (g, d) for layer in net.sublayers() if isinstance(layer, paddle.nn.BatchNorm2D)]
    scales = np.concatenate([bn.weight.numpy() for bn in bns])
    assert abs(scales.mean() - 1.0) < 5e-3 and abs(scales.std() - 0.02) < 5e-3
    assert all(np.all(bn.bias.numpy() == 0) for bn in bns)


def test_same_seed_same_weights():
    paddle.seed(7)
    a, _ = build_models(28, 16, 8, 8)
    paddle.seed(7)
    b, _ = build_models(28, 16, 8, 8)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
