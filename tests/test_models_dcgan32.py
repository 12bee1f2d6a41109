"""The 32x32 DCGAN of the CPU demo: shapes, the book's layer pattern, task wiring."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from gan_course.config import get_config
from gan_course.models import DCGANDiscriminator32, DCGANGenerator32
from gan_course.training.tasks import build_task


def test_shapes_and_layer_pattern():
    G, D = DCGANGenerator32(16, 8), DCGANDiscriminator32(8)
    img = G(torch.randn(5, 16))
    assert img.shape == (5, 3, 32, 32) and img.abs().max() <= 1
    assert D(img).shape == (5, 1)
    kinds = [type(m) for m in G.main]
    assert kinds.count(nn.ConvTranspose2d) == 4 and kinds.count(nn.BatchNorm2d) == 3
    assert all(m.bias is None for m in G.main if isinstance(m, nn.ConvTranspose2d))
    with pytest.raises(ValueError, match="32, 32"):
        D(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="noise of shape"):
        G(torch.zeros(2, 17))


def test_task_picks_the_network_by_image_size():
    cfg = get_config("dcgan", "smoke")
    assert type(build_task(replace(cfg, image_size=32)).models["G"]) is DCGANGenerator32
    assert build_task(replace(cfg, image_size=64)).models["G"](
        torch.randn(2, cfg.latent_dim)).shape[-1] == 64
    with pytest.raises(ValueError, match="64x64 .* or 32x32"):
        build_task(replace(cfg, image_size=48))
