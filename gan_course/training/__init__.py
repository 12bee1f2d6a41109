"""Training: one readable step function per model, one shared loop, safe checkpoints, DDP.

=============================  ==========================================================
:mod:`.steps`                  ``mlp_gan_step``, ``dcgan_step``, ``wgan_gp_step``,
                               ``cyclegan_step`` - the lesson; read them beside the book
:mod:`.loop`                   ``fit`` (progress, history, samples, checkpoints, resume,
                               NaN guard), ``Batches``, ``Task``, ``TrainingDiverged``
:mod:`.checkpoint`             ``save_checkpoint`` (atomic), ``load_checkpoint``
                               (``weights_only=True``), ``CheckpointError``
:mod:`.distributed`            torchrun / DDP helpers
:mod:`.tasks`                  ``build_task``, ``load_data``, ``train``, ``load_trained``,
                               ``generate``
=============================  ==========================================================
"""

from gan_course.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gan_course.training.loop import Batches, PairedBatches, Task, TrainingDiverged, fit
from gan_course.training.steps import cyclegan_step, dcgan_step, mlp_gan_step, wgan_gp_step
from gan_course.training.tasks import build_task, generate, load_data, load_trained, train

__all__ = [
    "Batches",
    "CheckpointError",
    "PairedBatches",
    "Task",
    "TrainingDiverged",
    "build_task",
    "cyclegan_step",
    "dcgan_step",
    "fit",
    "generate",
    "load_checkpoint",
    "load_data",
    "load_trained",
    "mlp_gan_step",
    "save_checkpoint",
    "train",
    "wgan_gp_step",
]
