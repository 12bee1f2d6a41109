"""Check functions, one per exercise: the graded cells of ``assignments/`` call them.

Each check compares the student's answer with a reference computed by PyTorch itself (or, for
the 2-D GAN exercises, with the behaviour of a short training run) on fixed cases, then either
prints one line such as ``✔ conv_output_size: 12/12 cases`` or raises an ``AssertionError``
whose message says which case failed, what was expected, what came back and what to look at.
Every check first rejects an answer that comes from the ``gan_course`` package itself (see
:mod:`gan_course.grading.provenance`). Checks return ``None``: nbgrader would read a returned
number as a partial grade.

One module per assignment group: :mod:`.mlp` (a01), :mod:`.conv` (a02, a03), :mod:`.dcgan`
(a04), :mod:`.wgan` (a05), :mod:`.cyclegan` (a06), :mod:`.collapse` (a07), :mod:`.wgan_points`
(a08), :mod:`.patchgan` (a09); :mod:`.points` holds the 2-D data and scores a07 and a08 share.
"""

from __future__ import annotations

from collections.abc import Callable

from .collapse import check_collapse_fixed, check_disc_input, check_mode_coverage
from .conv import (
    check_conv2d_by_hand,
    check_conv_output_size,
    check_conv_transpose2d_by_hand,
    check_conv_transpose_output_size,
)
from .cyclegan import check_cycle_consistency_loss, check_residual_block
from .dcgan import check_dcgan_discriminator, check_generator_block
from .mlp import check_discriminator_loss, check_mlp_discriminator, check_mlp_generator
from .patchgan import (
    check_input_window,
    check_patch_discriminator,
    check_receptive_field,
    check_stack_output_size,
)
from .wgan import check_gradient_penalty, check_label_planes
from .wgan_points import check_critic_step, check_generator_step, check_wgan_gp_tuned

CHECKS: dict[str, Callable[..., None]] = {
    "mlp_discriminator": check_mlp_discriminator,
    "mlp_generator": check_mlp_generator,
    "discriminator_loss": check_discriminator_loss,
    "conv_output_size": check_conv_output_size,
    "conv2d_by_hand": check_conv2d_by_hand,
    "conv_transpose_output_size": check_conv_transpose_output_size,
    "conv_transpose2d_by_hand": check_conv_transpose2d_by_hand,
    "generator_block": check_generator_block,
    "dcgan_discriminator": check_dcgan_discriminator,
    "label_planes": check_label_planes,
    "gradient_penalty": check_gradient_penalty,
    "cycle_consistency_loss": check_cycle_consistency_loss,
    "residual_block": check_residual_block,
    "mode_coverage": check_mode_coverage,
    "disc_input": check_disc_input,
    "collapse_fixed": check_collapse_fixed,
    "critic_step": check_critic_step,
    "generator_step": check_generator_step,
    "wgan_gp_tuned": check_wgan_gp_tuned,
    "stack_output_size": check_stack_output_size,
    "receptive_field": check_receptive_field,
    "input_window": check_input_window,
    "patch_discriminator": check_patch_discriminator,
}
"""Every check function by exercise name (the assignments use each one at least once)."""

__all__ = ["CHECKS", *(f.__name__ for f in CHECKS.values())]
