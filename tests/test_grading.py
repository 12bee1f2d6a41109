"""Unit tests of the autograder's check functions: right answers pass, typical mistakes fail
with a message that names the case and says what to fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_course import grading as g

# ---------------------------------------------------------------------------------- helpers


def _fails(check, answer, *fragments: str) -> str:
    """Run ``check(answer)``, expect an AssertionError whose message contains every fragment."""
    with pytest.raises(AssertionError) as info:
        check(answer)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in message:\n{msg}"
    return msg


def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("check", list(g.CHECKS.values()), ids=list(g.CHECKS))
def test_a_blank_stub_fails_with_a_clear_message(check):
    _fails(check, _not_implemented, "is not implemented yet", "NotImplementedError")


@pytest.mark.parametrize("check", list(g.CHECKS.values()), ids=list(g.CHECKS))
def test_checks_return_none(check, capsys):
    """nbgrader reads a number returned by the last line of a test cell as a partial grade."""
    right = RIGHT[check.__name__]
    assert check(right) is None
    out = capsys.readouterr().out
    assert out.startswith("✔ ") and "cases" in out


def test_a_crash_in_student_code_is_reported_with_the_call():
    def broken(n, k, s, p):
        return n / undefined_name  # noqa: F821

    _fails(g.check_conv_output_size, broken, "conv_output_size(5, 3, 2, 1) raised NameError")


# ---------------------------------------------------------------------------------- part 01


def build_generator():
    return nn.Sequential(nn.Linear(100, 1000), nn.ReLU(), nn.Linear(1000, 500), nn.ReLU(),
                         nn.Linear(500, 200), nn.ReLU(), nn.Linear(200, 784), nn.Tanh())


def discriminator_loss(real, fake):
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def test_mlp_generator_wrong_sizes_and_activations():
    def book_sizes():
        return nn.Sequential(nn.Linear(100, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                             nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 784), nn.Tanh())

    _fails(g.check_mlp_generator, book_sizes, "layer 1: expected Linear(100, 1000)",
           "got Linear(100, 256)")

    def no_tanh():
        return nn.Sequential(*list(build_generator())[:-1])

    _fails(g.check_mlp_generator, no_tanh, "Tanh")

    def sigmoid_hidden():
        return nn.Sequential(nn.Linear(100, 1000), nn.Sigmoid(), nn.Linear(1000, 500), nn.ReLU(),
                             nn.Linear(500, 200), nn.ReLU(), nn.Linear(200, 784), nn.Tanh())

    _fails(g.check_mlp_generator, sigmoid_hidden, "ReLU after each hidden layer")


def test_discriminator_loss_mistakes():
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(f, r), "swapped")
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(r, f) / 2, "averaged")
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(r, f).item(), "tensor")


# ---------------------------------------------------------------------------------- part 02


def conv_output_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def conv2d_by_hand(image, kernel, stride=1, padding=0):
    x = np.pad(image, padding)
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel).sum()
    return out


def test_conv_output_size_matches_torch():
    for n, k, s, p in g.CONV_SIZE_CASES:
        conv = nn.Conv2d(1, 1, k, s, p)
        assert conv(torch.zeros(1, 1, n, n)).shape[-1] == g.ref_conv_output_size(n, k, s, p)


@pytest.mark.parametrize("wrong, hint", [
    (lambda n, k, s, p: (n + 2 * p - k) // s, "conv_output_size(5, 3, 2, 1): expected 3, got 2 — "
                                              "remember the floor and the +1"),
    (lambda n, k, s, p: (n - k) // s + 1, "the padding is missing"),
    (lambda n, k, s, p: (n + p - k) // s + 1, "padding goes on both sides"),
    (lambda n, k, s, p: (n + 2 * p - k) / s + 1, "use integer division"),
    (lambda n, k, s, p: -((n + 2 * p - k) // -s) + 1, "round down"),
])
def test_conv_output_size_mistakes(wrong, hint):
    _fails(g.check_conv_output_size, wrong, hint)


def test_conv2d_by_hand_mistakes():
    def flipped(image, kernel, stride=1, padding=0):
        return conv2d_by_hand(image, kernel[::-1, ::-1], stride, padding)

    msg = _fails(g.check_conv2d_by_hand, flipped, "you flipped the kernel", "expected:", "got:")
    # the book's kernel is symmetric under flipping, so the first failing case is the next one
    assert "image 5×5, kernel 3×3, stride=1, padding=0): output[0, 0]" in msg

    def ignores_padding(image, kernel, stride=1, padding=0):
        return conv2d_by_hand(image, kernel, stride, 0)

    _fails(g.check_conv2d_by_hand, ignores_padding, "expected shape", "pad the image with zeros")

    def not_an_array(image, kernel, stride=1, padding=0):
        return "nope"

    _fails(g.check_conv2d_by_hand, not_an_array, "not an array of numbers")


# ---------------------------------------------------------------------------------- part 03


def conv_transpose_output_size(n, k, s, p):
    return (n - 1) * s - 2 * p + k


def conv_transpose2d_by_hand(x, kernel, stride=1, padding=0):
    kh, kw = kernel.shape
    out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i * stride:i * stride + kh, j * stride:j * stride + kw] += x[i, j] * kernel
    return out[padding:out.shape[0] - padding, padding:out.shape[1] - padding]


def test_conv_transpose_output_size_matches_torch_and_mistakes():
    for n, k, s, p in g.CONVT_SIZE_CASES:
        conv = nn.ConvTranspose2d(1, 1, k, s, p)
        assert conv(torch.zeros(1, 1, n, n)).shape[-1] == g.ref_conv_transpose_output_size(n, k, s, p)
    _fails(g.check_conv_transpose_output_size, lambda n, k, s, p: (n - 1) * s + k, "subtract 2p")
    _fails(g.check_conv_transpose_output_size, conv_output_size, "forward) convolution formula")


def test_conv_transpose2d_by_hand_mistakes():
    def no_overlap_sum(x, kernel, stride=1, padding=0):  # assigns instead of adding
        kh, kw = kernel.shape
        out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * kernel
        return out[padding:out.shape[0] - padding, padding:out.shape[1] - padding]

    _fails(g.check_conv_transpose2d_by_hand, no_overlap_sum, "overlapping blocks are summed")

    def no_crop(x, kernel, stride=1, padding=0):
        return conv_transpose2d_by_hand(x, kernel, stride, 0)

    _fails(g.check_conv_transpose2d_by_hand, no_crop, "expected shape", "crop")


# ---------------------------------------------------------------------------------- part 04


def generator_block(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


def build_discriminator():
    return nn.Sequential(
        nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
        nn.Conv2d(256, 512, 4, 2, 1, bias=False), nn.BatchNorm2d(512), nn.LeakyReLU(0.2),
        nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def test_generator_block_mistakes():
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.ReLU()),
           "bias=False")
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(o), nn.ReLU()),
           "kernel_size=4, stride=2, padding=1")
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(o), nn.LeakyReLU(0.2)),
           "BatchNorm2d → ReLU")


def test_dcgan_discriminator_mistakes():
    def last_layer_stride_2():
        layers = list(build_discriminator())
        layers[-2] = nn.Conv2d(512, 1, 4, 2, 1, bias=False)
        return nn.Sequential(*layers)

    _fails(g.check_dcgan_discriminator, last_layer_stride_2,
           "expected shape (B, 1, 1, 1), got (2, 1, 2, 2)")

    def bn_everywhere():
        return nn.Sequential(
            nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            *list(build_discriminator())[2:])

    _fails(g.check_dcgan_discriminator, bn_everywhere, "none after the first conv")
    # The course's logits version (no Sigmoid) passes too.
    g.check_dcgan_discriminator(lambda: nn.Sequential(*list(build_discriminator())[:-1]))


# ---------------------------------------------------------------------------------- part 05


def label_planes(labels, k, size):
    return F.one_hot(labels, k).float()[:, :, None, None].expand(-1, -1, size, size)


def gradient_penalty(critic, real, fake, alpha=None):
    if alpha is None:
        alpha = torch.rand(real.shape[0], 1, 1, 1)
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x)
    grad = torch.autograd.grad(scores, x, torch.ones_like(scores), create_graph=True)[0]
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def test_label_planes_mistakes():
    _fails(g.check_label_planes,
           lambda lab, k, s: label_planes(lab, k, s).permute(0, 2, 3, 1), "channels-first")
    _fails(g.check_label_planes, lambda lab, k, s: label_planes(lab, k, s).long(), "make it float")
    _fails(g.check_label_planes, lambda lab, k, s: 1 - label_planes(lab, k, s),
           "sample 0, plane 0 should be all ones")


def test_gradient_penalty_mistakes():
    def per_pixel_alpha(critic, real, fake, alpha=None):
        return gradient_penalty(critic, real, fake,
                                torch.rand(real.shape) if alpha is None else alpha)

    _fails(g.check_gradient_penalty, per_pixel_alpha, "one random number per sample")

    def one_alpha(critic, real, fake, alpha=None):
        return gradient_penalty(critic, real, fake, torch.rand(1) if alpha is None else alpha)

    _fails(g.check_gradient_penalty, one_alpha, "every sample got the same alpha")

    def no_graph(critic, real, fake, alpha=None):
        alpha = torch.rand(real.shape[0], 1, 1, 1) if alpha is None else alpha
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        scores = critic(x)
        grad = torch.autograd.grad(scores, x, torch.ones_like(scores))[0]
        return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()

    _fails(g.check_gradient_penalty, no_graph, "create_graph=True")

    def swapped(critic, real, fake, alpha=None):
        return gradient_penalty(critic, fake, real, alpha)

    _fails(g.check_gradient_penalty, swapped, "swapped real and fake")

    def batch_norm_of_grad(critic, real, fake, alpha=None):
        alpha = torch.rand(real.shape[0], 1, 1, 1) if alpha is None else alpha
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(x).sum(), x, create_graph=True)[0]
        return (grad.norm() - 1) ** 2

    _fails(g.check_gradient_penalty, batch_norm_of_grad, "one gradient norm per sample")

    def no_minus_one(critic, real, fake, alpha=None):
        alpha = torch.rand(real.shape[0], 1, 1, 1) if alpha is None else alpha
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(x).sum(), x, create_graph=True)[0]
        return (grad.flatten(1).norm(2, dim=1) ** 2).mean()

    _fails(g.check_gradient_penalty, no_minus_one, "(norm - 1)², not norm²")


def test_reference_gradient_penalty_agrees_with_the_linear_case():
    critic = g._LinearCritic((3, 2, 2), norm=3.0)
    gp = g.ref_gradient_penalty(critic, torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2),
                                torch.rand(5, 1, 1, 1))
    assert gp.item() == pytest.approx(4.0, abs=1e-5)  # (3 - 1)²


# ---------------------------------------------------------------------------------- part 06


def cycle_consistency_loss(ra, ca, rb, cb, lambda_cycle=10.0):
    return lambda_cycle * (F.l1_loss(ca, ra) + F.l1_loss(cb, rb))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.block(x)


def test_cycle_consistency_loss_mistakes():
    _fails(g.check_cycle_consistency_loss,
           lambda ra, ca, rb, cb, lambda_cycle=10.0: lambda_cycle * (F.mse_loss(ca, ra) + F.mse_loss(cb, rb)),
           "squared error (MSE)", "L1")
    _fails(g.check_cycle_consistency_loss,
           lambda ra, ca, rb, cb, lambda_cycle=10.0: F.l1_loss(ca, ra) + F.l1_loss(cb, rb),
           "multiply by lambda_cycle")
    _fails(g.check_cycle_consistency_loss,
           lambda ra, ca, rb, cb, lambda_cycle=10.0: lambda_cycle * F.l1_loss(ca, ra),
           "add both round trips")


def test_residual_block_mistakes():
    class NoSkip(ResidualBlock):
        def forward(self, x):
            return self.block(x)

    _fails(g.check_residual_block, NoSkip, "skip connection is missing")

    class ReluAtTheEnd(ResidualBlock):
        def forward(self, x):
            return torch.relu(x + self.block(x))

    _fails(g.check_residual_block, ReluAtTheEnd, "do not apply ReLU after adding x")

    class ZeroPadding(ResidualBlock):
        def __init__(self, channels):
            super().__init__(channels)
            for m in self.block:
                if isinstance(m, nn.Conv2d):
                    m.padding_mode = "zeros"

    _fails(g.check_residual_block, ZeroPadding, "padding_mode='reflect'")

    class OneNorm(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.block = nn.Sequential(*list(ResidualBlock(channels).block)[:-1])

        def forward(self, x):
            return x + self.block(x)

    _fails(g.check_residual_block, OneNorm, "two nn.InstanceNorm2d")


RIGHT = {
    "check_mlp_generator": build_generator,
    "check_discriminator_loss": discriminator_loss,
    "check_conv_output_size": conv_output_size,
    "check_conv2d_by_hand": conv2d_by_hand,
    "check_conv_transpose_output_size": conv_transpose_output_size,
    "check_conv_transpose2d_by_hand": conv_transpose2d_by_hand,
    "check_generator_block": generator_block,
    "check_dcgan_discriminator": build_discriminator,
    "check_label_planes": label_planes,
    "check_gradient_penalty": gradient_penalty,
    "check_cycle_consistency_loss": cycle_consistency_loss,
    "check_residual_block": ResidualBlock,
}
