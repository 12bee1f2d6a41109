"""Tests for gan_course.models: parameter counts, shapes, labels, weight init."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from gan_course.models import (
    CGANCritic,
    CGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    PatchDiscriminator,
    ResidualBlock,
    ResnetGenerator,
    init_weights,
    label_planes,
    one_hot,
    weights_init,
)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def mlp_count(sizes: list[int]) -> int:
    """Parameters of a chain of Linear layers: sum of in*out + out."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------- parameter counts

def test_dcgan_parameter_counts_match_the_book():
    assert n_params(DCGANGenerator(latent_dim=100, features=64)) == 3_576_704
    assert n_params(DCGANDiscriminator(features=64)) == 2_765_568


def test_mlp_parameter_counts_follow_the_layer_formula():
    assert n_params(MLPDiscriminator()) == mlp_count([784, 1024, 512, 256, 1])
    assert n_params(MLPGenerator()) == mlp_count([100, 256, 512, 1024, 784])
    # the book's exercise: generator hidden sizes 1000/500/200
    assert n_params(MLPGenerator(hidden=(1000, 500, 200))) == mlp_count([100, 1000, 500, 200, 784])
    assert n_params(MLPDiscriminator(hidden=(1000, 500, 200))) == mlp_count([784, 1000, 500, 200, 1])


def test_mlp_layers_activations_and_dropout():
    D = MLPDiscriminator()
    assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3, 0.3]
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())  # logits
    assert isinstance(MLPGenerator().main[-1], nn.Tanh)
    assert any(isinstance(m, nn.LeakyReLU) for m in MLPDiscriminator(negative_slope=0.2).modules())


# ---------------------------------------------------------------- shapes

def test_mlp_shapes():
    G, D = MLPGenerator(), MLPDiscriminator()
    x = G(torch.randn(5, 100))
    assert x.shape == (5, 784) and x.abs().max() <= 1
    assert D(x).shape == (5, 1)
    assert D(x.view(5, 1, 28, 28)).shape == (5, 1)
    with pytest.raises(ValueError, match="784"):
        D(torch.randn(5, 100))
    with pytest.raises(ValueError, match=r"\(B, 100\)"):
        G(torch.randn(5, 64))


def test_dcgan_shapes_and_logits():
    G, D = DCGANGenerator(features=8), DCGANDiscriminator(features=8)
    x = G(torch.randn(3, 100))
    assert x.shape == (3, 3, 64, 64)
    assert G(torch.randn(3, 100, 1, 1)).shape == (3, 3, 64, 64)
    assert D(x).shape == (3, 1)
    assert isinstance(G.main, nn.Sequential) and isinstance(D.main, nn.Sequential)
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(c.bias is None for c in convs)
    with pytest.raises(ValueError, match="64x64"):
        D(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("size", [32, 64, 128])
def test_cgan_shapes(size):
    G = CGANGenerator(latent_dim=16, num_classes=3, img_size=size, features=4)
    C = CGANCritic(num_classes=3, img_size=size, features=4)
    labels = torch.tensor([0, 2])
    x = G(torch.randn(2, 16), labels)
    assert x.shape == (2, 3, size, size)
    assert C(x, labels).shape == (2,)
    # stride-2 layers: log2(size) - 2, plus the first ConvT / last Conv
    n_stride2 = size.bit_length() - 1 - 2
    assert sum(isinstance(m, nn.Conv2d) for m in C.modules()) == n_stride2 + 1
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == n_stride2 + 1


def test_cgan_book_size_256():
    G = CGANGenerator(latent_dim=100, num_classes=2, img_size=256, features=16)
    C = CGANCritic(num_classes=2, img_size=256, features=16)
    convs = [m for m in C.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 256, 512, 1]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in C.modules())
    norms = [m for m in C.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 5 and all(n.affine for n in norms)
    with torch.no_grad():
        x = G(torch.randn(1, 100), torch.tensor([1]))
        assert x.shape == (1, 3, 256, 256)
        assert C(x, torch.tensor([1])).shape == (1,)


def test_cgan_float_weight_labels_do_label_arithmetic():
    torch.manual_seed(0)
    G = CGANGenerator(latent_dim=8, num_classes=2, img_size=32, features=4).eval()
    C = CGANCritic(num_classes=2, img_size=32, features=4).eval()
    z = torch.randn(1, 8)
    with torch.no_grad():
        a = G(z, torch.tensor([0]))
        b = G(z, torch.tensor([1]))
        assert torch.allclose(G(z, torch.tensor([[1.0, 0.0]])), a, atol=1e-6)
        w = 0.5
        mix = w * torch.tensor([[1.0, 0.0]]) + (1 - w) * torch.tensor([[0.0, 1.0]])
        m = G(z, mix)
        assert m.shape == a.shape
        assert not torch.allclose(m, a) and not torch.allclose(m, b)
        assert torch.allclose(C(a, torch.tensor([[0.0, 1.0]])), C(a, torch.tensor([1])))


def test_cgan_projection_critic_adds_a_label_feature_term():
    torch.manual_seed(0)
    book = CGANCritic(num_classes=2, img_size=32, features=4)
    proj = CGANCritic(num_classes=2, img_size=32, features=4, projection=True)
    # the book's critic is unchanged: same weights, no extra module
    assert book.embed is None and set(book.state_dict()) == set(proj.state_dict()) - {"embed.weight"}
    proj.load_state_dict({**book.state_dict(), "embed.weight": proj.embed.weight.detach()})
    x = torch.randn(3, 3, 32, 32)
    ids = torch.tensor([0, 1, 1])
    with torch.no_grad():
        h = proj.main[:-1](torch.cat([x, label_planes(ids, 2, 32)], 1)).sum((2, 3))
        expected = book(x, ids) + (proj.embed(one_hot(ids, 2)) * h).sum(1)
        assert torch.allclose(proj(x, ids), expected, atol=1e-5)
        assert not torch.allclose(proj(x, ids), book(x, ids))
        proj.embed.weight.zero_()  # no label vectors: exactly the book's score
        assert torch.allclose(proj(x, ids), book(x, ids), atol=1e-6)
        # float weight rows (label arithmetic) are accepted
        assert proj(x, torch.tensor([[0.3, 0.7]] * 3)).shape == (3,)
    # the gradient penalty differentiates the score twice: the projection must allow that
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(proj(xr, ids).sum(), xr, create_graph=True)
    g.pow(2).sum().backward()
    assert proj.embed.weight.grad is not None


def test_resnet_generator_residual_draws_only_the_change():
    torch.manual_seed(0)
    book = ResnetGenerator(3, features=4, num_residuals=1)
    res = ResnetGenerator(3, features=4, num_residuals=1, residual=True)
    assert set(book.state_dict()) == set(res.state_dict())  # same layers: checkpoints fit both
    res.load_state_dict(book.state_dict())
    x = torch.rand(2, 3, 16, 16) * 1.8 - 0.9
    with torch.no_grad():
        y = res(x)
        assert y.shape == x.shape and y.abs().max() <= 1
        assert not torch.allclose(y, book(x))
        change = res.last[0](res.up(res.residuals(res.down(res.initial(x)))))
        assert torch.allclose(y, (x + change).clamp(-1, 1), atol=1e-6)
        res.last[0].weight.zero_()
        res.last[0].bias.zero_()
        assert torch.equal(res(x), x)  # no change drawn: the input comes back exactly
        res.last[0].bias.fill_(-5.0)  # a change far past the range is clipped to it
        assert torch.equal(res(x), torch.full_like(x, -1.0))
        res.last[0].bias.zero_()
    # a saturated pixel (blond hair's red channel near 1) still gets the full gradient towards
    # the other end: the reason for the clamp over tanh(atanh(x) + change) (slope ~0.01 there)
    res.zero_grad()
    res(torch.full((1, 3, 16, 16), 0.99)).sum().neg().backward()  # a loss that wants them lower
    assert torch.allclose(res.last[0].bias.grad, torch.full((3,), -16.0 * 16))  # slope 1 per pixel
    xr = x.clone().requires_grad_(True)
    torch.manual_seed(1)
    res2 = ResnetGenerator(3, features=4, num_residuals=1, residual=True)
    res2(xr).sum().backward()
    assert xr.grad is not None and res2.last[0].weight.grad is not None


def test_one_hot_and_label_planes():
    assert torch.equal(one_hot(torch.tensor([1, 0, 2]), 3),
                       torch.tensor([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]]))
    weights = torch.tensor([[0.25, 0.75]])
    assert one_hot(weights, 2) is weights
    planes = label_planes(torch.tensor([1, 0]), 2, 5)
    assert planes.shape == (2, 2, 5, 5)
    assert torch.all(planes[0, 1] == 1) and torch.all(planes[0, 0] == 0)
    assert torch.all(planes[1, 0] == 1) and torch.all(planes[1, 1] == 0)
    wp = label_planes(weights, 2, 4)
    assert torch.all(wp[0, 0] == 0.25) and torch.all(wp[0, 1] == 0.75)


def test_bad_labels_and_sizes_give_clear_errors():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        one_hot(torch.tensor([0, 2]), 2)
    with pytest.raises(ValueError, match=r"\[0, 2\).*from -1 to 0"):
        one_hot(torch.tensor([-1, 0]), 2)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        one_hot(torch.rand(3, 3), 2)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        one_hot(torch.tensor([[0, 1]]), 2)
    with pytest.raises(ValueError, match="power of two"):
        CGANGenerator(img_size=48)
    with pytest.raises(ValueError, match="power of two"):
        CGANCritic(img_size=16)
    G = CGANGenerator(latent_dim=8, img_size=32, features=2)
    with pytest.raises(ValueError, match="labels"):
        G(torch.randn(2, 8), torch.tensor([0, 1, 1]))


@pytest.mark.parametrize("size", [64, 128])
def test_cyclegan_shapes(size):
    G = ResnetGenerator(channels=3, features=8, num_residuals=2)
    D = PatchDiscriminator(channels=3, features=(8, 16, 32, 64))
    x = torch.rand(2, 3, size, size) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert D(y).shape == (2, 1, size // 8 - 2, size // 8 - 2)
    assert ResidualBlock(8)(torch.randn(1, 8, 6, 6)).shape == (1, 8, 6, 6)


def test_cyclegan_book_layout():
    G = ResnetGenerator()
    assert sum(isinstance(m, ResidualBlock) for m in G.modules()) == 9
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.padding_mode == "reflect" for c in convs)
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.stride, u.padding, u.output_padding) for u in ups] == [((2, 2), (1, 1), (1, 1))] * 2
    D = PatchDiscriminator()
    strides = [m.stride[0] for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert strides == [2, 2, 2, 1, 1]
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())
    with torch.no_grad():
        assert D(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


# ---------------------------------------------------------------- weight init

def book_weights_init(m):
    """The book's function, verbatim logic (class-name matching)."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def small_models():
    return [
        DCGANGenerator(features=8), DCGANDiscriminator(features=8),
        CGANGenerator(latent_dim=8, img_size=32, features=4),
        CGANCritic(img_size=32, features=4),
        ResnetGenerator(features=4, num_residuals=1),
        PatchDiscriminator(features=(4, 8, 16, 32)),
    ]


def init_layers(model):
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.InstanceNorm2d)
    return [m for m in model.modules() if isinstance(m, kinds) and m.weight is not None]


@pytest.mark.parametrize("idx", range(6))
def test_book_call_is_a_noop_and_apply_fixes_it(idx):
    torch.manual_seed(idx)
    model = small_models()[idx]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    book_weights_init(model)  # the book's call: looks at the whole model's class name
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    layers = init_layers(model)
    assert layers, "every model has conv layers"
    weights = [layer.weight.detach().clone() for layer in layers]
    model.apply(weights_init)
    for layer, w in zip(layers, weights):
        assert not torch.equal(layer.weight, w), type(layer).__name__
        if layer.bias is not None:
            assert torch.all(layer.bias == 0)
    convs = [m.weight for m in layers if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert max(abs(w.std().item() - 0.02) for w in convs if w.numel() >= 2000) < 0.004


def test_weights_init_statistics_and_changes_every_layer():
    torch.manual_seed(0)
    G = DCGANGenerator()
    before = [m.weight.detach().clone() for m in init_layers(G)]
    assert init_weights(G) is G
    after = init_layers(G)
    assert all(not torch.equal(b, a.weight) for b, a in zip(before, after))
    big = [m for m in after if isinstance(m, nn.ConvTranspose2d) and m.weight.numel() > 10_000]
    for conv in big:
        assert abs(conv.weight.std().item() - 0.02) < 0.002
        assert abs(conv.weight.mean().item()) < 0.002
    bn = torch.cat([m.weight.detach() for m in after if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.005 and abs(bn.std().item() - 0.02) < 0.005


def test_weights_init_handles_norms_without_affine_and_leaves_linear():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2), nn.GroupNorm(1, 2),
                          nn.Linear(4, 4))
    lin = model[3].weight.detach().clone()
    model.apply(weights_init)  # InstanceNorm2d(affine=False) has weight None: must not crash
    assert model[1].weight is None
    assert not torch.all(model[2].weight == 1) and torch.all(model[2].bias == 0)
    assert torch.equal(model[3].weight, lin)
    with pytest.raises(TypeError):
        init_weights(weights_init)


def test_mlp_discriminator_pack_judges_images_together():
    torch.manual_seed(0)
    D = MLPDiscriminator(784, (32, 16), dropout=0.0, pack=2).eval()
    assert D.main[0].in_features == 2 * 784
    x = torch.randn(6, 1, 28, 28)
    out = D(x)
    assert out.shape == (6, 1)
    # one logit per pack of consecutive images, given to each image of the pack
    assert torch.equal(out[0::2], out[1::2])
    assert torch.allclose(out[:2], D.main(x[:2].reshape(1, -1)).expand(2, 1))
    # the pack's verdict depends on both of its images
    y = x.clone()
    y[1] = torch.randn(1, 28, 28)
    assert not torch.allclose(D(y)[0], out[0]) and torch.allclose(D(y)[2:], out[2:])
    # an odd batch is completed with its own first images: still one logit per image
    assert D(x[:5]).shape == (5, 1) and D(x[:1]).shape == (1, 1)
    with pytest.raises(ValueError, match="pack"):
        MLPDiscriminator(pack=0)
    assert MLPDiscriminator().main[0].in_features == 784  # the book's D by default
