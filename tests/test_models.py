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
    assert kinds == [["Conv2D", "LeakyReLU"], ["Conv2D", "BatchNorm2D", "LeakyReLU"], ["WholeMapConv2D"]]
    assert not any(isinstance(layer, (paddle.nn.Sigmoid, paddle.nn.Linear, paddle.nn.MaxPool2D))
                   for layer in d.sublayers())
    assert [c._stride for c in d.sublayers() if isinstance(c, paddle.nn.Conv2D)][:2] == [[2, 2], [2, 2]]
    assert isinstance(d.blocks[2], paddle.nn.Conv2D)  # a stock layer, only computed differently


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


@pytest.mark.parametrize("bias", [False, None])
def test_whole_map_layers_match_stock_paddle(bias):
    """The GEMM forms give the stock layers' outputs and gradients, and share their state_dict."""
    from paddle_dcgan.models import WholeMapConv2D, WholeMapConvTranspose2D

    paddle.seed(3)
    for fast, stock, shape in ((WholeMapConvTranspose2D(16, 8, 7, bias_attr=bias),
                                paddle.nn.Conv2DTranspose(16, 8, 7, bias_attr=bias), [5, 16, 1, 1]),
                               (WholeMapConv2D(8, 3, 7, bias_attr=bias), paddle.nn.Conv2D(8, 3, 7, bias_attr=bias),
                                [5, 8, 7, 7])):
        stock.set_state_dict(fast.state_dict())
        assert fast.state_dict().keys() == stock.state_dict().keys()
        x = paddle.randn(shape)
        x.stop_gradient = False
        out, ref = fast(x), stock(x)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
        (out * out).sum().backward()
        grad_fast = [x.grad.numpy().copy(), fast.weight.grad.numpy()]
        x.clear_grad()
        (ref * ref).sum().backward()
        np.testing.assert_allclose(grad_fast[0], x.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(grad_fast[1], stock.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
        # other inputs fall back to the stock kernel
        other = paddle.randn([2, shape[1], 3, 3] if shape[2] == 1 else [2, shape[1], 9, 9])
        np.testing.assert_allclose(fast(other).numpy(), stock(other).numpy(), rtol=1e-5, atol=1e-6)
