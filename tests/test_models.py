import numpy as np
import paddle
import pytest

from paddle_dcgan.core.models import Discriminator, Generator, build_models, layout

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
    assert type(d.blocks[2]) is paddle.nn.Conv2D  # the core's nets are stock layers only


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
    from paddle_dcgan.kernels.layers import GemmConv2D as WholeMapConv2D
    from paddle_dcgan.kernels.layers import GemmConvTranspose2D as WholeMapConvTranspose2D

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


# state_dict of the unconditional 28x28 nets (nz=16, ngf=8, ndf=8) as it was before conditional models existed:
# checkpoints and generator files written then must load into today's nets unchanged
UNCONDITIONAL_G_KEYS = [
    ("blocks.0.0.weight", [16, 16, 7, 7]), ("blocks.0.1.weight", [16]), ("blocks.0.1.bias", [16]),
    ("blocks.0.1._mean", [16]), ("blocks.0.1._variance", [16]), ("blocks.1.0.weight", [16, 8, 4, 4]),
    ("blocks.1.1.weight", [8]), ("blocks.1.1.bias", [8]), ("blocks.1.1._mean", [8]), ("blocks.1.1._variance", [8]),
    ("blocks.2.0.weight", [8, 1, 4, 4]),
]
UNCONDITIONAL_D_KEYS = [
    ("blocks.0.0.weight", [8, 1, 4, 4]), ("blocks.1.0.weight", [16, 8, 4, 4]), ("blocks.1.1.weight", [16]),
    ("blocks.1.1.bias", [16]), ("blocks.1.1._mean", [16]), ("blocks.1.1._variance", [16]),
    ("blocks.2.weight", [1, 16, 7, 7]),
]


def _keys(net):
    return [(k, list(v.shape)) for k, v in net.state_dict().items()]


def test_unconditional_nets_keep_their_parameters():
    g, d = build_models(28, 16, 8, 8)
    assert _keys(g) == UNCONDITIONAL_G_KEYS and _keys(d) == UNCONDITIONAL_D_KEYS
    assert g.num_classes == d.num_classes == 0
    with pytest.raises(ValueError, match="unconditional"):
        g(paddle.randn([2, 16, 1, 1]), paddle.to_tensor([1, 2]))
    with pytest.raises(ValueError, match="unconditional"):
        d(paddle.randn([2, 1, 28, 28]), paddle.to_tensor([1, 2]))


def test_conditional_nets_read_the_label_in_their_first_layer():
    g, d = build_models(28, 16, 8, 8, num_classes=10)
    # z and the one-hot label enter G's first layer together; the image and 10 label planes D's
    assert _keys(g) == [(k, [26, 16, 7, 7] if k == "blocks.0.0.weight" else shape) for k, shape in UNCONDITIONAL_G_KEYS]
    assert _keys(d) == [(k, [8, 11, 4, 4] if k == "blocks.0.0.weight" else shape) for k, shape in UNCONDITIONAL_D_KEYS]
    with pytest.raises(ValueError, match="conditional"):
        g(paddle.randn([2, 16, 1, 1]))
    with pytest.raises(ValueError, match="conditional"):
        d(paddle.randn([2, 1, 28, 28]))


@pytest.mark.parametrize("size", [28, 32, 64])
def test_conditional_shapes(size):
    paddle.seed(0)
    g, d = build_models(size, 16, 8, 8, num_classes=10)
    labels = paddle.to_tensor([0, 3, 9], dtype="int64")
    images = g(paddle.randn([3, 16, 1, 1]), labels)
    assert list(images.shape) == [3, 1, size, size] and list(d(images, labels).shape) == [3]


def test_generator_labels_change_the_image_and_one_hot_rows_equal_ids():
    paddle.seed(2)
    g, _ = build_models(28, 16, 8, 8, num_classes=10)
    g.eval()
    z = paddle.randn([10, 16, 1, 1])
    ids = paddle.arange(10, dtype="int64")
    by_id = g(z, ids).numpy()
    np.testing.assert_array_equal(g(z, paddle.nn.functional.one_hot(ids, 10)).numpy(), by_id)
    other = g(z, (ids + 1) % 10).numpy()
    assert np.abs(other - by_id).max() > 1e-4
    halfway = g(z, paddle.full([10, 10], 0.1)).numpy()  # any mix of classes is an input too
    assert halfway.shape == by_id.shape


def test_label_planes_discriminator():
    """D(x, y) is the plain discriminator's net applied to x with 10 constant planes: 1 for class y, 0 else."""
    paddle.seed(4)
    _, d = build_models(28, 16, 8, 8, num_classes=10)
    d.eval()  # BatchNorm's running statistics: each image is judged on its own
    images = paddle.randn([4, 1, 28, 28])
    labels = paddle.to_tensor([0, 1, 2, 2], dtype="int64")
    planes = np.zeros((4, 10, 28, 28), np.float32)
    planes[np.arange(4), labels.numpy()] = 1.0
    conv, activation = d.blocks[0]
    first = activation(conv(paddle.concat([images, paddle.to_tensor(planes)], axis=1)))
    by_hand = d.blocks[1:](first).flatten()
    np.testing.assert_allclose(d(images, labels).numpy(), by_hand.numpy(), rtol=1e-5, atol=1e-6)
    # the first layer's kernel for class 2's plane moves exactly the logits of the images labelled 2
    before = d(images, labels).numpy()
    weight = d.blocks[0][0].weight.numpy()
    weight[:, 1 + 2] += 0.1
    d.blocks[0][0].weight.set_value(weight)
    moved = np.abs(d(images, labels).numpy() - before) > 1e-4
    assert moved.tolist() == [False, False, True, True]
