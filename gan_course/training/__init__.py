"""Training: one readable step function per model, one shared loop, safe checkpoints, DDP.

=============================  ==========================================================
:mod:`.steps`                  ``gan_step`` (MLP GAN and DCGAN), ``wgan_gp_step``,
                               ``cyclegan_step`` - the lesson; read them beside the book
:mod:`.amp`                    mixed-precision plumbing: ``autocast``, ``optimizer_step``
:mod:`.tasks`                  ``Task`` and ``build_task(cfg, device)``: one builder per chapter
:mod:`.loop`                   ``fit`` (progress, history, samples, checkpoints, resume,
                               NaN guard), ``TrainingDiverged``
:mod:`.runs`                   ``train(cfg)`` (the four steps in one call, for the CLI),
                               ``load_trained``, ``generate``
:mod:`.checkpoint`             ``save_checkpoint`` (atomic), ``load_checkpoint``
                               (``weights_only=True``), ``CheckpointError``
:mod:`.image_pool`             CycleGAN's buffer of past fakes
:mod:`.book_checkpoint`        the book's pretrained generators as a course checkpoint
:mod:`.distributed`            torchrun / DDP helpers
=============================  ==========================================================
"""

from gan_course.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gan_course.training.loop import TrainingDiverged, fit
from gan_course.training.runs import generate, load_trained, train
from gan_course.training.steps import cyclegan_step, gan_step, wgan_gp_step
from gan_course.training.tasks import Task, build_task

__all__ = [
    "CheckpointError", "Task", "TrainingDiverged", "build_task", "cyclegan_step", "fit",
    "gan_step", "generate", "load_checkpoint", "load_trained", "save_checkpoint", "train",
    "wgan_gp_step",
]
