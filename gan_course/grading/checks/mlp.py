"""Checks for assignment a01: the MLP GAN of the clothing notebook with 1000/500/200 units.

Book exercise 4.1 resizes the discriminator's hidden layers from 1024/512/256 to 1000/500/200;
the generator is then resized to mirror it, 256/512/1024 becoming 200/500/1000.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._common import (
    call,
    close,
    get_module,
    modules_of,
    own_answer,
    passed,
    scalar_tensor,
    shape_msg,
    shape_of,
)

MLP_DISCRIMINATOR_SIZES = (784, 1000, 500, 200, 1)
MLP_GENERATOR_SIZES = (100, 200, 500, 1000, 784)
"""The generator mirrors the discriminator: 200 → 500 → 1000 is 1000 → 500 → 200 read backwards."""


def _linear_sizes(model: nn.Module, name: str, sizes: tuple[int, ...], hint: str) -> list[nn.Linear]:
    linears = modules_of(model, nn.Linear)
    want = list(zip(sizes[:-1], sizes[1:]))
    got = [(m.in_features, m.out_features) for m in linears]
    chain = " → ".join(map(str, sizes))
    if len(got) != len(want):
        raise AssertionError(f"{name}: expected {len(want)} nn.Linear layers ({chain}), found "
                             f"{len(got)}: {got}.")
    if got == [(o, i) for i, o in reversed(want)] or got[1:-1] == [(o, i) for i, o in reversed(want[1:-1])]:
        raise AssertionError(f"{name}: hidden sizes in the wrong order — {hint}; expected {chain}, "
                             f"got {got}.")
    for i, (g, w) in enumerate(zip(got, want), start=1):
        if g != w:
            raise AssertionError(f"{name}: layer {i}: expected Linear{w}, got Linear{g} — {hint}; "
                                 f"the exercise asks for {chain}.")
    n_params = sum(p.numel() for p in model.parameters())
    want_params = sum(i * o + o for i, o in want)
    if n_params != want_params:
        raise AssertionError(f"{name}: expected {want_params:,} parameters, got {n_params:,} — "
                             f"only the four Linear layers have weights.")
    return linears


def check_mlp_discriminator(build: Callable[[], nn.Module] | nn.Module) -> None:
    """Check the exercise-4.1 discriminator: Linear 784→1000→500→200→1, ReLU and Dropout(0.3)
    after each hidden layer; ends with a logit (or a Sigmoid, as the book does).

    ``build``: a function returning the model, or the model. Input ``(B, 784)``, output ``(B, 1)``.
    """
    name = "mlp_discriminator"
    own_answer(build, "build_discriminator")
    model = get_module(build, "build_discriminator")
    linears = _linear_sizes(model, name, MLP_DISCRIMINATOR_SIZES,
                            "the discriminator narrows: 1000, then 500, then 200 units")
    drops = modules_of(model, nn.Dropout)
    if len(drops) != 3 or any(abs(d.p - 0.3) > 1e-9 for d in drops):
        raise AssertionError(f"{name}: expected Dropout(0.3) after each of the 3 hidden layers (as "
                             f"in the book), found {[d.p for d in drops]}.")
    model.eval()  # dropout off: the forward pass is then deterministic
    x = torch.rand(4, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        out = call(model, "discriminator", x)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 1):
        raise AssertionError(shape_msg("discriminator(x) with x of shape (4, 784)", shape_of(out),
                                       (4, 1), "one score per image"))
    h = x
    for lin in linears[:-1]:
        h = torch.relu(F.linear(h, lin.weight, lin.bias))
    logits = F.linear(h, linears[-1].weight, linears[-1].bias)
    if not (torch.allclose(out, logits, atol=1e-5) or torch.allclose(out, torch.sigmoid(logits),
                                                                      atol=1e-5)):
        raise AssertionError(f"{name}: output differs from Linear → ReLU (→ Dropout) ×3 → Linear "
                             f"(optionally → Sigmoid) computed with your own layers: ReLU after "
                             f"each hidden layer, nothing after the last Linear but an optional "
                             f"Sigmoid.")
    passed(name, 4)


def check_mlp_generator(build: Callable[[], nn.Module] | nn.Module) -> None:
    """Check the mirrored generator: Linear 100→200→500→1000→784, ReLU between, Tanh at the end.

    ``build``: a function returning the model, or the model. Input ``(B, 100)`` noise, output
    ``(B, 784)`` in ``[-1, 1]`` (a flattened 28×28 image).
    """
    name = "mlp_generator"
    own_answer(build, "build_generator")
    model = get_module(build, "build_generator")
    linears = _linear_sizes(model, name, MLP_GENERATOR_SIZES,
                            "the generator mirrors the discriminator, so it widens: 200, 500, 1000")
    if not modules_of(model, nn.Tanh):
        raise AssertionError(f"{name}: no nn.Tanh found — the last activation must be Tanh so the "
                             f"pixels land in [-1, 1], like the normalised training images.")
    model.eval()
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        out = call(model, "generator", z)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 784):
        raise AssertionError(shape_msg("generator(z) with z of shape (4, 100)", shape_of(out),
                                       (4, 784), "one flattened 28×28 image per noise vector"))
    # The reference forward pass with the student's own weights pins the activations down.
    h = z
    for i, lin in enumerate(linears):
        h = F.linear(h, lin.weight, lin.bias)
        h = torch.tanh(h) if i == len(linears) - 1 else torch.relu(h)
    if not torch.allclose(out, h, atol=1e-5):
        raise AssertionError(f"{name}: output differs from Linear → ReLU → Linear → ReLU → Linear "
                             f"→ ReLU → Linear → Tanh computed with your own layers: check the "
                             f"activations (ReLU after each hidden layer, Tanh at the end, nothing "
                             f"else).")
    passed(name, 4)


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``discriminator_loss(real_logits (B,1), fake_logits (B,1)) -> scalar``.

    Expected: ``BCE(sigmoid(real), 1) + BCE(sigmoid(fake), 0)``, each term a batch mean; the
    inputs are logits (no Sigmoid in the model), so ``F.binary_cross_entropy_with_logits`` fits.
    """
    name = "discriminator_loss"
    own_answer(fn, name)
    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(5, 1, generator=g) * 2, torch.randn(5, 1, generator=g) * 2),
             (torch.tensor([[3.0], [2.0]]), torch.tensor([[-3.0], [-1.0]])),
             (torch.zeros(3, 1), torch.zeros(3, 1))]
    for real, fake in cases:
        call_text = f"{name}(real_logits of shape {tuple(real.shape)}, fake_logits ...)"
        real_req, fake_req = real.clone().requires_grad_(), fake.clone().requires_grad_()
        got = scalar_tensor(call(fn, name, real_req, fake_req), call_text)
        want = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if close(got, want):
            if not got.requires_grad:
                raise AssertionError(f"{call_text}: the loss is not connected to the logits by "
                                     f"autograd; compute it with torch operations (no .item(), "
                                     f"no NumPy) so it can be back-propagated.")
            continue
        swapped = (F.binary_cross_entropy_with_logits(real, torch.zeros_like(real))
                   + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))
        on_probs = (F.binary_cross_entropy(real.clamp(0, 1), torch.ones_like(real))
                    + F.binary_cross_entropy(fake.clamp(0, 1), torch.zeros_like(fake)))
        hint = "use F.binary_cross_entropy_with_logits: real target 1, fake target 0, and add the two"
        if close(got, swapped):
            hint = "targets swapped: real images get label 1 and fakes get label 0"
        elif close(got, want / 2):
            hint = "averaged the two terms; the exercise asks for their sum"
        elif close(got, on_probs):
            hint = "inputs are logits: apply a sigmoid (or use binary_cross_entropy_with_logits)"
        raise AssertionError(f"{call_text}: {hint} — expected {want.item():.4f}, got "
                             f"{got.detach().item():.4f}.")
    passed(name, len(cases))
