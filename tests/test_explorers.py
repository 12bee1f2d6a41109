"""Render functions and widget wrappers of gan_course.explorers (notebooks 06 and 07).

Tiny untrained models keep this fast; an untrained generator still depends on its inputs, which
is all these properties need.
"""

import numpy as np
import pytest
import torch

from gan_course.models import CGANGenerator, ResnetGenerator
from gan_course.notebook.explorers import (
    cgan_explorer,
    cyclegan_explorer,
    label_weights,
    render_cgan_faces,
    render_cyclegan_roundtrip,
    slerp,
    to_uint8,
)

LATENT = 8


@pytest.fixture(scope="module")
def cgan_gen():
    torch.manual_seed(0)
    return CGANGenerator(latent_dim=LATENT, num_classes=2, img_size=32, features=4)


@pytest.fixture(scope="module")
def cycle_gens():
    torch.manual_seed(1)
    return (ResnetGenerator(features=4, num_residuals=1),
            ResnetGenerator(features=4, num_residuals=1))


def _z(seed, n=1):
    return torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed))


def test_render_cgan_shape_dtype(cgan_gen):
    one = render_cgan_faces(cgan_gen, _z(0)[0], label_weight=1.0, interpolation=0.0)
    assert one.shape == (32, 32, 3) and one.dtype == np.uint8
    row = render_cgan_faces(cgan_gen, _z(0, n=3), 0.5, 0.0, gap=2)
    assert row.shape == (32, 3 * 32 + 2 * 2, 3) and row.dtype == np.uint8


def test_label_weight_changes_image(cgan_gen):
    z = _z(0, n=2)
    glasses = render_cgan_faces(cgan_gen, z, 1.0, 0.0)
    none = render_cgan_faces(cgan_gen, z, 0.0, 0.0)
    half = render_cgan_faces(cgan_gen, z, 0.5, 0.0)
    assert not np.array_equal(glasses, none)
    assert not np.array_equal(half, none) and not np.array_equal(half, glasses)


def test_interpolation_endpoints(cgan_gen):
    z, z2 = _z(0, n=2), _z(1, n=2)
    alone = render_cgan_faces(cgan_gen, z, 0.7, 0.0)
    other = render_cgan_faces(cgan_gen, z2, 0.7, 0.0)
    np.testing.assert_array_equal(render_cgan_faces(cgan_gen, z, 0.7, 0.0, z_other=z2), alone)
    np.testing.assert_array_equal(render_cgan_faces(cgan_gen, z, 0.7, 1.0, z_other=z2), other)
    middle = render_cgan_faces(cgan_gen, z, 0.7, 0.5, z_other=z2)
    assert not np.array_equal(middle, alone) and not np.array_equal(middle, other)


def test_slerp_keeps_the_length_where_lerp_shrinks_it():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, 100, generator=g), torch.randn(64, 100, generator=g)
    torch.testing.assert_close(slerp(z0, z1, 0.0), z0, rtol=0, atol=0)  # exact endpoints
    torch.testing.assert_close(slerp(z0, z1, 1.0), z1, rtol=0, atol=0)
    ends = torch.stack([z0.norm(dim=1), z1.norm(dim=1)])
    for t in (0.25, 0.5, 0.75):
        n = slerp(z0, z1, t).norm(dim=1)
        assert (n >= ends.min(0).values - 1e-4).all() and (n <= ends.max(0).values + 1e-4).all()
    # the straight line's midpoint is ~1/sqrt(2) as long (nearly orthogonal Gaussian vectors)
    ratio = (torch.lerp(z0, z1, 0.5).norm(dim=1) / ends.mean(0)).mean()
    assert 0.65 < ratio < 0.76
    # equal lengths: constant length, and the midpoint is the normalised mean direction
    u0, u1 = z0 / z0.norm(dim=1, keepdim=True), z1 / z1.norm(dim=1, keepdim=True)
    mid = slerp(u0, u1, 0.5)
    torch.testing.assert_close(mid.norm(dim=1), torch.ones(64))
    bisector = (u0 + u1) / (u0 + u1).norm(dim=1, keepdim=True)
    torch.testing.assert_close(mid, bisector)


def test_slerp_on_a_known_arc_and_parallel_rows():
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    third = slerp(e0, e1, 1 / 3)  # 30 degrees along the quarter circle
    torch.testing.assert_close(third, torch.tensor([3 ** 0.5 / 2, 0.5]))
    z = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(slerp(z, 2 * z, 0.5), 1.5 * z)  # parallel: the straight line
    with pytest.raises(ValueError, match="same shape"):
        slerp(torch.zeros(2, 3), torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t must be"):
        slerp(e0, e1, 1.5)


def test_render_interpolates_spherically(cgan_gen):
    z, z2 = _z(0, n=2), _z(1, n=2)
    np.testing.assert_array_equal(render_cgan_faces(cgan_gen, z, 0.7, 0.5, z_other=z2),
                                  render_cgan_faces(cgan_gen, slerp(z, z2, 0.5), 0.7))
    assert not np.array_equal(render_cgan_faces(cgan_gen, z, 0.7, 0.5, z_other=z2),
                              render_cgan_faces(cgan_gen, torch.lerp(z, z2, 0.5), 0.7))


def test_render_is_pure(cgan_gen):
    cgan_gen.train()
    a = render_cgan_faces(cgan_gen, _z(3), 1.0)
    assert cgan_gen.training, "render must restore the model's training flag"
    np.testing.assert_array_equal(a, render_cgan_faces(cgan_gen, _z(3), 1.0))


def test_bad_inputs_are_explained(cgan_gen):
    with pytest.raises(ValueError, match="label_weight"):
        render_cgan_faces(cgan_gen, _z(0), 1.5)
    with pytest.raises(ValueError, match="interpolation"):
        render_cgan_faces(cgan_gen, _z(0), 0.5, interpolation=-0.1, z_other=_z(1))
    with pytest.raises(ValueError, match="same shape"):
        render_cgan_faces(cgan_gen, _z(0, n=2), 0.5, 0.5, z_other=_z(1, n=3))
    with pytest.raises(ValueError, match="direction"):
        render_cyclegan_roundtrip(torch.nn.Identity(), torch.nn.Identity(),
                                  torch.zeros(3, 8, 8), "sideways")


def test_label_weights_rows():
    rows = label_weights(0.25, batch=3)
    assert rows.shape == (3, 2)
    assert torch.allclose(rows[0], torch.tensor([0.25, 0.75]))


@pytest.mark.parametrize("direction", ["ab", "ba", "black → blond", "blond → black"])
def test_roundtrip_panels(cycle_gens, direction):
    gen_ab, gen_ba = cycle_gens
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    out = render_cyclegan_roundtrip(gen_ab, gen_ba, image, direction)
    assert out.shape == (16, 48, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :16], to_uint8(image))
    # untrained generators do change the image: panels 2 and 3 are not copies of panel 1
    assert not np.array_equal(out[:, 16:32], out[:, :16])


def test_roundtrip_uses_the_right_generator_order():
    # A "generator" that adds a constant makes the order visible: ab -> +0.5 then -0.25.
    class Shift(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.d = d

        def forward(self, x):
            return x + self.d

    image = torch.zeros(3, 4, 4)
    out = render_cyclegan_roundtrip(Shift(0.5), Shift(-0.25), image, "ab")
    assert out[0, 4, 0] == to_uint8(torch.full((3, 1, 1), 0.5))[0, 0, 0]
    assert out[0, 8, 0] == to_uint8(torch.full((3, 1, 1), 0.25))[0, 0, 0]


def test_roundtrip_accepts_uint8_layouts(cycle_gens):
    gen_ab, gen_ba = cycle_gens
    chw = np.random.default_rng(0).integers(0, 256, (3, 16, 16), dtype=np.uint8)
    hwc = np.ascontiguousarray(chw.transpose(1, 2, 0))
    a = render_cyclegan_roundtrip(gen_ab, gen_ba, chw, "ab")
    b = render_cyclegan_roundtrip(gen_ab, gen_ba, hwc, "ab")
    np.testing.assert_array_equal(a[:, :16], hwc)
    np.testing.assert_array_equal(a, b)


def _sliders(box):
    import ipywidgets as widgets

    return {w.description: w for w in box.children
            if isinstance(w, (widgets.FloatSlider, widgets.IntSlider, widgets.Dropdown))}


def test_cgan_explorer_builds_and_redraws(cgan_gen):
    import ipywidgets as widgets

    box = cgan_explorer(cgan_gen, n_faces=2)
    controls = _sliders(box)
    assert set(controls) == {"label weight", "interpolation"}
    image = next(w for w in box.children if isinstance(w, widgets.Image))
    before = image.value
    assert before[:4] == b"\x89PNG"
    controls["label weight"].value = 0.0
    assert image.value != before


def test_cyclegan_explorer_builds_and_redraws(cycle_gens):
    import ipywidgets as widgets

    gen_ab, gen_ba = cycle_gens
    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 3, 16, 16, generator=g) * 2 - 1
    b = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    box = cyclegan_explorer(gen_ab, gen_ba, a, b)
    controls = _sliders(box)
    assert set(controls) == {"image", "direction"}
    assert controls["image"].max == 2
    image = next(w for w in box.children if isinstance(w, widgets.Image))
    before = image.value
    controls["image"].value = 1
    assert image.value != before
    controls["direction"].value = "blond → black"
    assert controls["image"].max == 1
