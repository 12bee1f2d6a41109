"""Unit tests of the autograder's check functions: right answers pass, typical mistakes fail with
a message that names the case and says what to fix, and answers taken from the ``gan_course``
package fail, however they are wrapped.

The two checks that train a 2-D GAN (a07, a08) are exercised end to end by
``tests/test_assignments.py``; here only their fast parts (input validation, error paths) run.
"""

from __future__ import annotations

import functools
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_course import grading as g
from gan_course.grading import provenance
from gan_course.grading.checks import collapse, patchgan, points, wgan

# ---------------------------------------------------------------------------------- helpers


def _fails(check, *answer, fragments=()) -> str:
    """Run ``check(*answer)``, expect an AssertionError whose message contains every fragment."""
    with pytest.raises(AssertionError) as info:
        check(*answer)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in message:\n{msg}"
    return msg


def _not_implemented(*args, **kwargs):
    raise NotImplementedError()


FAST_CHECKS = {k: v for k, v in g.CHECKS.items() if k not in ("collapse_fixed", "wgan_gp_tuned")}


@pytest.mark.parametrize("check", list(FAST_CHECKS.values()), ids=list(FAST_CHECKS))
def test_a_blank_stub_fails_with_a_clear_message(check):
    _fails(check, _not_implemented, fragments=["is not implemented yet", "NotImplementedError"])


@pytest.mark.parametrize("check", list(FAST_CHECKS.values()), ids=list(FAST_CHECKS))
def test_checks_return_none(check, capsys):
    """nbgrader reads a number returned by the last line of a test cell as a partial grade."""
    right = RIGHT[check.__name__]
    assert check(right) is None
    out = capsys.readouterr().out
    assert out.startswith("✔ ") and "cases" in out


def test_every_check_is_exported_and_registered():
    for name, check in g.CHECKS.items():
        assert getattr(g, check.__name__) is check, name
        assert check.__name__ in g.__all__
    assert set(RIGHT) | {"check_collapse_fixed", "check_wgan_gp_tuned"} == {
        c.__name__ for c in g.CHECKS.values()}


def test_a_crash_in_student_code_is_reported_with_the_call():
    def broken(n, k, s, p):
        return n / undefined_name  # noqa: F821

    _fails(g.check_conv_output_size, broken,
           fragments=["conv_output_size(5, 3, 2, 1) raised NameError"])


# ---------------------------------------------------------------------------------- part 01


def build_discriminator():
    return nn.Sequential(nn.Linear(784, 1000), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(1000, 500), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(500, 200), nn.ReLU(), nn.Dropout(0.3), nn.Linear(200, 1))


def build_generator():
    return nn.Sequential(nn.Linear(100, 200), nn.ReLU(), nn.Linear(200, 500), nn.ReLU(),
                         nn.Linear(500, 1000), nn.ReLU(), nn.Linear(1000, 784), nn.Tanh())


def discriminator_loss(real, fake):
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def test_mlp_discriminator_mistakes_and_the_book_s_sigmoid():
    g.check_mlp_discriminator(lambda: nn.Sequential(*build_discriminator(), nn.Sigmoid()))

    def book_sizes():
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Dropout(0.3),
                             nn.Linear(1024, 512), nn.ReLU(), nn.Dropout(0.3),
                             nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 1))

    _fails(g.check_mlp_discriminator, book_sizes,
           fragments=["layer 1: expected Linear(784, 1000), got Linear(784, 1024)"])
    _fails(g.check_mlp_discriminator,
           lambda: nn.Sequential(*[m for m in build_discriminator() if not isinstance(m, nn.Dropout)]),
           fragments=["Dropout(0.3)"])

    def tanh_inside():
        layers = list(build_discriminator())
        layers[1] = nn.Tanh()
        return nn.Sequential(*layers)

    _fails(g.check_mlp_discriminator, tanh_inside, fragments=["ReLU after each hidden layer"])


def test_mlp_generator_must_mirror_the_discriminator():
    def same_order_as_d():  # 1000 -> 500 -> 200: the old, unmirrored reading of the exercise
        return nn.Sequential(nn.Linear(100, 1000), nn.ReLU(), nn.Linear(1000, 500), nn.ReLU(),
                             nn.Linear(500, 200), nn.ReLU(), nn.Linear(200, 784), nn.Tanh())

    _fails(g.check_mlp_generator, same_order_as_d,
           fragments=["hidden sizes in the wrong order", "mirrors the discriminator"])
    _fails(g.check_mlp_generator, lambda: nn.Sequential(*list(build_generator())[:-1]),
           fragments=["Tanh"])

    def sigmoid_hidden():
        layers = list(build_generator())
        layers[1] = nn.Sigmoid()
        return nn.Sequential(*layers)

    _fails(g.check_mlp_generator, sigmoid_hidden, fragments=["ReLU after each hidden layer"])


def test_discriminator_loss_mistakes():
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(f, r),
           fragments=["targets swapped"])
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(r, f) / 2,
           fragments=["averaged"])
    _fails(g.check_discriminator_loss, lambda r, f: discriminator_loss(r, f).item(),
           fragments=["tensor"])


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
    from gan_course.grading.checks import conv

    for n, k, s, p in conv.CONV_SIZE_CASES:
        layer = nn.Conv2d(1, 1, k, s, p)
        assert layer(torch.zeros(1, 1, n, n)).shape[-1] == conv._ref_conv_output_size(n, k, s, p)


@pytest.mark.parametrize("wrong, hint", [
    (lambda n, k, s, p: (n + 2 * p - k) // s, "conv_output_size(5, 3, 2, 1): expected 3, got 2 — "
                                              "remember the floor and the +1"),
    (lambda n, k, s, p: (n - k) // s + 1, "the padding is missing"),
    (lambda n, k, s, p: (n + p - k) // s + 1, "padding goes on both sides"),
    (lambda n, k, s, p: (n + 2 * p - k) / s + 1, "use integer division"),
    (lambda n, k, s, p: -((n + 2 * p - k) // -s) + 1, "round down"),
])
def test_conv_output_size_mistakes(wrong, hint):
    _fails(g.check_conv_output_size, wrong, fragments=[hint])


def test_conv2d_by_hand_mistakes():
    def flipped(image, kernel, stride=1, padding=0):
        return conv2d_by_hand(image, kernel[::-1, ::-1], stride, padding)

    msg = _fails(g.check_conv2d_by_hand, flipped,
                 fragments=["you flipped the kernel", "expected:", "got:"])
    assert "image 3×3, kernel 2×2, stride=1, padding=0): output[0, 0]" in msg  # notebook 02's case

    def ignores_padding(image, kernel, stride=1, padding=0):
        return conv2d_by_hand(image, kernel, stride, 0)

    _fails(g.check_conv2d_by_hand, ignores_padding,
           fragments=["expected shape", "pad the image with zeros"])
    _fails(g.check_conv2d_by_hand, lambda image, kernel, stride=1, padding=0: "nope",
           fragments=["not an array of numbers"])


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
    from gan_course.grading.checks import conv

    for n, k, s, p in conv.CONVT_SIZE_CASES:
        layer = nn.ConvTranspose2d(1, 1, k, s, p)
        assert layer(torch.zeros(1, 1, n, n)).shape[-1] == conv._ref_conv_transpose_output_size(
            n, k, s, p)
    _fails(g.check_conv_transpose_output_size, lambda n, k, s, p: (n - 1) * s + k,
           fragments=["subtract 2p"])
    _fails(g.check_conv_transpose_output_size, conv_output_size,
           fragments=["forward) convolution formula"])


def test_conv_transpose2d_by_hand_mistakes():
    def no_overlap_sum(x, kernel, stride=1, padding=0):  # assigns instead of adding
        kh, kw = kernel.shape
        out = np.zeros(((x.shape[0] - 1) * stride + kh, (x.shape[1] - 1) * stride + kw))
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * kernel
        return out[padding:out.shape[0] - padding, padding:out.shape[1] - padding]

    _fails(g.check_conv_transpose2d_by_hand, no_overlap_sum,
           fragments=["overlapping blocks are summed"])
    _fails(g.check_conv_transpose2d_by_hand,
           lambda x, kernel, stride=1, padding=0: conv_transpose2d_by_hand(x, kernel, stride, 0),
           fragments=["expected shape", "crop"])


# ---------------------------------------------------------------------------------- part 04


def generator_block(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


def build_dcgan_discriminator():
    return nn.Sequential(
        nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
        nn.Conv2d(256, 512, 4, 2, 1, bias=False), nn.BatchNorm2d(512), nn.LeakyReLU(0.2),
        nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def test_generator_block_mistakes():
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.ReLU()),
           fragments=["bias=False"])
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(o), nn.ReLU()),
           fragments=["kernel_size=4, stride=2, padding=1"])
    _fails(g.check_generator_block,
           lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(o), nn.LeakyReLU(0.2)),
           fragments=["BatchNorm2d → ReLU"])


def test_dcgan_discriminator_mistakes():
    def last_layer_stride_2():
        layers = list(build_dcgan_discriminator())
        layers[-2] = nn.Conv2d(512, 1, 4, 2, 1, bias=False)
        return nn.Sequential(*layers)

    _fails(g.check_dcgan_discriminator, last_layer_stride_2,
           fragments=["expected shape (B, 1, 1, 1), got (2, 1, 2, 2)"])

    def bn_everywhere():
        return nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
                             nn.LeakyReLU(0.2), *list(build_dcgan_discriminator())[2:])

    _fails(g.check_dcgan_discriminator, bn_everywhere, fragments=["none after the first conv"])
    # The course's logits version (no Sigmoid) passes too.
    g.check_dcgan_discriminator(lambda: nn.Sequential(*list(build_dcgan_discriminator())[:-1]))


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
    _fails(g.check_label_planes, lambda lab, k, s: label_planes(lab, k, s).permute(0, 2, 3, 1),
           fragments=["channels-first"])
    _fails(g.check_label_planes, lambda lab, k, s: label_planes(lab, k, s).long(),
           fragments=["make it float"])
    _fails(g.check_label_planes, lambda lab, k, s: 1 - label_planes(lab, k, s),
           fragments=["sample 0, plane 0 should be all ones"])


def _gp_with(alpha_fn=None, graph=True, whole_batch=False, squared_norm=False, swap=False):
    def gp(critic, real, fake, alpha=None):
        if swap:
            real, fake = fake, real
        if alpha is None:
            alpha = alpha_fn(real) if alpha_fn else torch.rand(real.shape[0], 1, 1, 1)
        x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        grad = torch.autograd.grad(critic(x).sum(), x, create_graph=graph)[0]
        if whole_batch:
            return (grad.norm() - 1) ** 2
        norm = grad.flatten(1).norm(2, dim=1)
        return (norm ** 2).mean() if squared_norm else ((norm - 1) ** 2).mean()
    return gp


@pytest.mark.parametrize("answer, hint", [
    (_gp_with(alpha_fn=lambda r: torch.rand(r.shape)), "one random number per sample"),
    (_gp_with(alpha_fn=lambda r: torch.rand(1)), "every sample got the same alpha"),
    (_gp_with(graph=False), "create_graph=True"),
    (_gp_with(swap=True), "swapped real and fake"),
    (_gp_with(whole_batch=True), "one gradient norm per sample"),
    (_gp_with(squared_norm=True), "(norm - 1)², not norm²"),
])
def test_gradient_penalty_mistakes(answer, hint):
    _fails(g.check_gradient_penalty, answer, fragments=[hint])


def test_reference_gradient_penalty_agrees_with_the_linear_case():
    critic = wgan._LinearCritic((3, 2, 2), norm=3.0)
    gp = wgan._ref_gradient_penalty(critic, torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2),
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
           lambda ra, ca, rb, cb, lambda_cycle=10.0: lambda_cycle * (F.mse_loss(ca, ra)
                                                                     + F.mse_loss(cb, rb)),
           fragments=["squared error (MSE)", "L1"])
    _fails(g.check_cycle_consistency_loss,
           lambda ra, ca, rb, cb, lambda_cycle=10.0: F.l1_loss(ca, ra) + F.l1_loss(cb, rb),
           fragments=["multiply by lambda_cycle"])
    _fails(g.check_cycle_consistency_loss,
           lambda ra, ca, rb, cb, lambda_cycle=10.0: lambda_cycle * F.l1_loss(ca, ra),
           fragments=["add both round trips"])


def test_residual_block_mistakes():
    class NoSkip(ResidualBlock):
        def forward(self, x):
            return self.block(x)

    _fails(g.check_residual_block, NoSkip, fragments=["skip connection is missing"])

    class ReluAtTheEnd(ResidualBlock):
        def forward(self, x):
            return torch.relu(x + self.block(x))

    _fails(g.check_residual_block, ReluAtTheEnd, fragments=["do not apply ReLU after adding x"])

    class ZeroPadding(ResidualBlock):
        def __init__(self, channels):
            super().__init__(channels)
            for m in self.block:
                if isinstance(m, nn.Conv2d):
                    m.padding_mode = "zeros"

    _fails(g.check_residual_block, ZeroPadding, fragments=["padding_mode='reflect'"])

    class OneNorm(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.block = nn.Sequential(*list(ResidualBlock(channels).block)[:-1])

        def forward(self, x):
            return x + self.block(x)

    _fails(g.check_residual_block, OneNorm, fragments=["two nn.InstanceNorm2d"])


# ---------------------------------------------------------------------------------- a07


def mode_coverage(samples, centres, std):
    dist, nearest = torch.cdist(samples, centres).min(dim=1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    need = -(-len(samples) // (4 * len(centres)))
    return int((counts >= need).sum()), float(good.float().mean())


def disc_input(x):
    return torch.cat([x, x.std(dim=0).mean().expand(len(x), 1)], dim=1)


def test_mode_coverage_mistakes():
    def any_sample_counts(samples, centres, std):
        dist, nearest = torch.cdist(samples, centres).min(dim=1)
        return len(set(nearest[dist <= 3 * std].tolist())), float((dist <= 3 * std).float().mean())

    _fails(g.check_mode_coverage, any_sample_counts, fragments=["one sample is not enough"])

    def every_nearest_counts(samples, centres, std):
        dist, nearest = torch.cdist(samples, centres).min(dim=1)
        counts = torch.bincount(nearest, minlength=len(centres))
        return (int((counts >= len(samples) / (4 * len(centres))).sum()),
                float((dist <= 3 * std).float().mean()))

    _fails(g.check_mode_coverage, every_nearest_counts, fragments=["count only high-quality"])

    def percent(samples, centres, std):
        modes, quality = mode_coverage(samples, centres, std)
        return modes, 100 * quality

    _fails(g.check_mode_coverage, percent, fragments=["not a percentage"])


def test_disc_input_must_see_the_batch_and_pass_gradients():
    _fails(g.check_disc_input, lambda x: x, fragments=["each point is judged on its own"])
    _fails(g.check_disc_input, lambda x: disc_input(x).detach(), fragments=["no gradient"])
    _fails(g.check_disc_input, lambda x: x.reshape(-1, 6) if len(x) % 3 == 0 else x[:100],
           fragments=["split the batch evenly"])
    g.check_disc_input(lambda x: x.reshape(-1, 8))  # PacGAN-style packing of 4 points passes


def test_collapse_training_is_the_notebook_s_and_scores_a_collapsed_run_low():
    """Two short runs (cheaper than the check's): the plain GAN collapses, the batch view helps."""
    _, plain = collapse.train_gan(lambda x: x, seed=0, steps=300)
    _, fixed = collapse.train_gan(disc_input, seed=0, steps=300)
    plain_modes, _ = points.coverage(plain[-1][1], points.ring_centres(), points.RING_STD)
    fixed_modes, _ = points.coverage(fixed[-1][1], points.ring_centres(), points.RING_STD)
    assert [s for s, _ in plain] == [100, 200, 300]
    assert plain_modes <= 2 < fixed_modes


# ---------------------------------------------------------------------------------- a08


def critic_step(G, critic, opt_c, real, z, alpha, lambda_gp):
    with torch.no_grad():
        fake = G(z)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat)
    grad = torch.autograd.grad(scores, x_hat, torch.ones_like(scores), create_graph=True)[0]
    loss = (critic(fake).mean() - critic(real).mean()
            + lambda_gp * ((grad.norm(dim=1) - 1) ** 2).mean())
    opt_c.zero_grad()
    loss.backward()
    opt_c.step()
    return loss.item()


def generator_step(G, critic, opt_g, z):
    loss = -critic(G(z)).mean()
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    return loss.item()


def _critic_step_with(sign=1.0, gp=True, graph=True, zero=True, detach=True):
    def step(G, critic, opt_c, real, z, alpha, lambda_gp):
        fake = G(z).detach() if detach else G(z)
        loss = sign * (critic(fake).mean() - critic(real).mean())
        if gp:
            x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
            grad = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=graph)[0]
            loss = loss + lambda_gp * ((grad.norm(dim=1) - 1) ** 2).mean()
        if zero:
            opt_c.zero_grad()
        loss.backward()
        opt_c.step()
    return step


@pytest.mark.parametrize("answer, hint", [
    (_critic_step_with(sign=-1.0), "sign flipped"),
    (_critic_step_with(gp=False), "penalty does not reach the critic"),
    (_critic_step_with(graph=False), "create_graph=True"),
    (_critic_step_with(zero=False), "zero_grad"),
    (_critic_step_with(detach=False), "gradients reached the generator"),
])
def test_critic_step_mistakes(answer, hint):
    _fails(g.check_critic_step, answer, fragments=[hint])


def test_generator_step_mistakes():
    def flipped(G, critic, opt_g, z):
        loss = critic(G(z)).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    _fails(g.check_generator_step, flipped, fragments=["sign flipped"])

    def bce(G, critic, opt_g, z):
        loss = F.softplus(-critic(G(z))).mean()
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()

    _fails(g.check_generator_step, bce, fragments=["BCE generator loss"])

    def no_zero_grad(G, critic, opt_g, z):
        (-critic(G(z)).mean()).backward()
        opt_g.step()

    _fails(g.check_generator_step, no_zero_grad, fragments=["zero_grad"])


GOOD_HP = {"steps": 300, "n_critic": 5, "lr": 1e-3, "betas": (0.5, 0.9), "lambda_gp": 0.1}


@pytest.mark.parametrize("change, hint", [
    ({"steps": 1000}, "the budget is 1800"),
    ({"n_critic": 0}, "a whole number ≥ 1"),
    ({"betas": (0.5,)}, "two numbers in [0, 1)"),
    ({"lr": -1.0}, "a number > 0"),
    ({"extra": 1}, "expected a dict with the keys"),
])
def test_tuned_hyperparameters_are_validated_before_any_training(change, hint):
    _fails(g.check_wgan_gp_tuned, critic_step, generator_step, GOOD_HP | change, fragments=[hint])


def test_tuned_check_needs_correct_steps_before_it_trains():
    _fails(g.check_wgan_gp_tuned, critic_step, _not_implemented, GOOD_HP,
           fragments=["exercises 1 and 2 pass first", "is not implemented yet"])
    _fails(g.check_wgan_gp_tuned, _critic_step_with(sign=-1.0), generator_step, GOOD_HP,
           fragments=["exercises 1 and 2 pass first", "sign flipped"])


def test_collapse_check_needs_a_batch_view_before_it_trains():
    _fails(g.check_collapse_fixed, lambda x: x,
           fragments=["first check of this exercise pass first", "judged on its own"])


# ---------------------------------------------------------------------------------- a09


def stack_output_size(n, layers):
    for k, s, p in layers:
        n = (n + 2 * p - k) // s + 1
    return n


def receptive_field(layers):
    rf, jump = 1, 1
    for k, s, _ in layers:
        rf, jump = rf + (k - 1) * jump, jump * s
    return rf, jump


def input_window(i, layers):
    first, last = i, i
    for k, s, p in reversed(layers):
        first, last = first * s - p, last * s - p + k - 1
    return first, last


def build_patch_discriminator():
    return nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(8, 8, 4, 2, 1), nn.InstanceNorm2d(8), nn.LeakyReLU(0.2),
                         nn.Conv2d(8, 8, 4, 1, 1), nn.LeakyReLU(0.2),
                         nn.Conv2d(8, 8, 4, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, 1, 1))


@pytest.mark.parametrize("layers", patchgan.STACKS)
def test_receptive_field_reference_agrees_with_autograd(layers):
    convs, c = [], 3
    for k, s, p in layers:
        convs += [nn.Conv2d(c, 4, k, s, p), nn.LeakyReLU(0.2)]
        c = 4
    model = nn.Sequential(*convs[:-1], nn.Conv2d(4, 1, 1))
    assert patchgan._measured_receptive_field(model, 160) == patchgan._ref_receptive_field(layers)[0]


def test_the_cyclegan_discriminator_numbers():
    assert patchgan._ref_stack_output_size(256, patchgan.CYCLEGAN_D) == 30
    assert patchgan._ref_receptive_field(patchgan.CYCLEGAN_D) == (70, 8)
    assert patchgan._ref_input_window(0, patchgan.CYCLEGAN_D) == (-23, 46)


def test_patchgan_mistakes():
    _fails(g.check_stack_output_size,
           lambda n, layers: (n + 2 * layers[0][2] - layers[0][0]) // layers[0][1] + 1,
           fragments=["first layer only", "once per layer"])
    _fails(g.check_receptive_field, lambda layers: (1 + sum(k - 1 for k, _, _ in layers), 1),
           fragments=["strides ignored"])

    def late_jump(layers):
        rf, jump = 1, 1
        for k, s, _ in layers:
            jump *= s
            rf += (k - 1) * jump
        return rf, jump

    _fails(g.check_receptive_field, late_jump, fragments=["jump BEFORE the layer"])
    _fails(g.check_receptive_field, lambda layers: receptive_field(layers)[0],
           fragments=["return a pair (rf, jump)"])
    _fails(g.check_input_window,
           lambda i, layers: input_window(i, [(k, s, 0) for k, s, _ in layers]),
           fragments=["padding shifts the window"])


def test_patch_discriminator_design_mistakes():
    _fails(g.check_patch_discriminator, lambda: nn.Sequential(nn.Conv2d(3, 1, 46)),
           fragments=["use only 4×4 convs"])
    cyclegan = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 2, 1),
                             nn.Conv2d(8, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 1, 1),
                             nn.Conv2d(8, 1, 4, 1, 1))
    _fails(g.check_patch_discriminator, cyclegan, fragments=["each logit sees 70×70", "rf 70"])
    too_small_map = nn.Sequential(*[nn.Conv2d(3 if i == 0 else 4, 4, 4, 2, 1) for i in range(5)],
                                  nn.Conv2d(4, 1, 4, 1, 1))
    _fails(g.check_patch_discriminator, too_small_map, fragments=["at least 8×8"])
    pooled = nn.Sequential(nn.AvgPool2d(2), *build_patch_discriminator())
    _fails(g.check_patch_discriminator, pooled, fragments=["AvgPool2d"])


# ---------------------------------------------------------------------------------- provenance

def _package_module(name: str = "gan_course._fake_answers") -> types.ModuleType:
    """A throw-away module inside the gan_course namespace, as a package function would live."""
    module = types.ModuleType(name)
    exec("def conv_output_size(n, k, s=1, p=0):\n    return (n + 2 * p - k) // s + 1\n",
         module.__dict__)
    sys.modules[name] = module
    return module


@pytest.fixture
def pkg():
    module = _package_module()
    yield module
    del sys.modules[module.__name__]


def test_a_package_function_passed_as_the_answer_fails(pkg):
    msg = _fails(g.check_conv_output_size, pkg.conv_output_size,
                 fragments=["answer taken from the gan_course package",
                            "gan_course._fake_answers.conv_output_size"])
    assert msg.index("gan_course package") < 80  # nbgrader validate shows 90 characters a line


def test_wrappers_closures_defaults_partials_and_lambdas_around_package_code_fail(pkg):
    size = pkg.conv_output_size

    def wrapper(n, k, s, p):
        return size(n, k, s, p)

    def make_closure():
        inner = pkg.conv_output_size

        def closure(n, k, s, p):
            return inner(n, k, s, p)
        return closure

    def default(n, k, s, p, _f=pkg.conv_output_size):
        return _f(n, k, s, p)

    def nested(n, k, s, p):
        def helper():
            return pkg.conv_output_size(n, k, s, p)
        return helper()

    def helper_chain(n, k, s, p):
        return wrapper(n, k, s, p)

    for answer in (wrapper, make_closure(), default, nested, helper_chain,
                   functools.partial(pkg.conv_output_size), lambda n, k, s, p: size(n, k, s, p)):
        _fails(g.check_conv_output_size, answer, fragments=["gan_course"])


def test_imports_inside_the_answer_and_module_references_fail():
    def imports_inside(critic, real, fake, alpha=None):
        from gan_course.losses import gradient_penalty as gp
        return gp(critic, real, fake)

    _fails(g.check_gradient_penalty, imports_inside, fragments=["imports gan_course.losses"])

    def import_module(critic, real, fake, alpha=None):
        import importlib
        return importlib.import_module("gan_course.losses").gradient_penalty(critic, real, fake)

    _fails(g.check_gradient_penalty, import_module, fragments=["imports gan_course.losses"])

    import gan_course.losses as losses

    def via_module(critic, real, fake, alpha=None):
        return losses.gradient_penalty(critic, real, fake)

    _fails(g.check_gradient_penalty, via_module, fragments=["uses the module gan_course.losses"])


def _package_function(name: str):
    """Find ``name`` in whichever gan_course module defines it (the package is being reorganised)."""
    import importlib
    import pkgutil

    import gan_course

    for info in pkgutil.walk_packages(gan_course.__path__, "gan_course."):
        if ".grading" in info.name or info.name.endswith(("__main__", ".cli")):
            continue
        module = importlib.import_module(info.name)
        fn = getattr(module, name, None)
        if fn is not None and getattr(fn, "__module__", "") == info.name:
            return fn
    raise LookupError(f"no gan_course module defines {name}")


def test_the_issue_s_example_importing_the_package_s_convolution_fails():
    """``from gan_course.conv import conv_output_size, conv2d_numpy`` (wherever they now live)."""
    conv_output_size = _package_function("conv_output_size")
    conv2d_numpy = _package_function("conv2d_numpy")
    _fails(g.check_conv_output_size, conv_output_size,
           fragments=["answer taken from the gan_course package"])

    def conv2d_by_hand(image, kernel, stride=1, padding=0):
        return conv2d_numpy(image, kernel, stride=stride, padding=padding)

    _fails(g.check_conv2d_by_hand, conv2d_by_hand,
           fragments=["answer taken from the gan_course package", "conv2d_numpy"])


def test_a_wrapper_around_the_grader_s_own_reference_fails():
    ref = wgan._ref_gradient_penalty

    def gradient_penalty(critic, real, fake, alpha=None):
        if alpha is None:
            alpha = torch.rand(real.shape[0], 1, 1, 1)
        return ref(critic, real, fake, alpha)

    _fails(g.check_gradient_penalty, gradient_penalty,
           fragments=["gan_course.grading.checks.wgan._ref_gradient_penalty"])


def test_package_models_fail_as_classes_subclasses_instances_and_layers():
    from gan_course.models.cyclegan import ResidualBlock as PackageBlock
    from gan_course.models.mlp_gan import MLPGenerator

    _fails(g.check_residual_block, PackageBlock, fragments=["gan_course.models.cyclegan"])

    class Mine(PackageBlock):
        pass

    _fails(g.check_residual_block, Mine, fragments=["subclasses gan_course.models.cyclegan"])

    def build_generator():
        return MLPGenerator(hidden=(200, 500, 1000))

    _fails(g.check_mlp_generator, build_generator, fragments=["gan_course.models.mlp_gan"])
    hidden = {"net": nn.Sequential(MLPGenerator(hidden=(200, 500, 1000)))}

    def built_elsewhere():
        return hidden["net"]

    _fails(g.check_mlp_generator, built_elsewhere, fragments=["gan_course.models.mlp_gan"])


def test_package_code_that_runs_inside_an_answer_is_caught_at_run_time(pkg):
    class Box:
        f = None

    box = Box()

    def sneaky(n, k, s, p):  # the function is looked up at run time, invisible statically
        return box.f(n, k, s, p)

    assert provenance.package_use(sneaky, "sneaky") is None
    # a function whose code lives in a gan_course file is seen when it runs
    code = compile("def f(n, k, s, p):\n    return (n + 2 * p - k) // s + 1\n",
                   provenance._PACKAGE_DIR + "/_fake_answers.py", "exec")
    space: dict = {"__name__": "gan_course._fake_answers"}
    exec(code, space)
    box.f = space["f"]
    _fails(g.check_conv_output_size, sneaky, fragments=["it runs gan_course._fake_answers.f"])


def test_own_code_passes_and_the_runtime_helpers_are_allowed():
    from gan_course.runtime import seed_everything

    def conv_output_size_seeded(n, k, s, p):
        seed_everything(0)
        return np.floor((n + 2 * p - k) / s).astype(int).item() + 1

    g.check_conv_output_size(conv_output_size_seeded)
    assert provenance.package_use(ResidualBlock, "ResidualBlock") is None
    assert provenance.package_use(build_patch_discriminator(), "model") is None


def test_the_profile_hook_is_restored():
    def outer_hook(frame, event, arg):
        return None

    sys.setprofile(outer_hook)
    try:
        g.check_conv_output_size(conv_output_size)
        assert sys.getprofile() is outer_hook
    finally:
        sys.setprofile(None)


RIGHT = {
    "check_mlp_discriminator": build_discriminator,
    "check_mlp_generator": build_generator,
    "check_discriminator_loss": discriminator_loss,
    "check_conv_output_size": conv_output_size,
    "check_conv2d_by_hand": conv2d_by_hand,
    "check_conv_transpose_output_size": conv_transpose_output_size,
    "check_conv_transpose2d_by_hand": conv_transpose2d_by_hand,
    "check_generator_block": generator_block,
    "check_dcgan_discriminator": build_dcgan_discriminator,
    "check_label_planes": label_planes,
    "check_gradient_penalty": gradient_penalty,
    "check_cycle_consistency_loss": cycle_consistency_loss,
    "check_residual_block": ResidualBlock,
    "check_mode_coverage": mode_coverage,
    "check_disc_input": disc_input,
    "check_critic_step": critic_step,
    "check_generator_step": generator_step,
    "check_stack_output_size": stack_output_size,
    "check_receptive_field": receptive_field,
    "check_input_window": input_window,
    "check_patch_discriminator": build_patch_discriminator,
}
