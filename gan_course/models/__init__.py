"""The course's networks, one module per chapter, plus weight initialisation.

=====================  ==========================================  ===============================
module                 classes                                     book
=====================  ==========================================  ===============================
:mod:`.mlp_gan`        MLPGenerator, MLPDiscriminator              ch. 4, Fashion-MNIST
:mod:`.dcgan`          DCGANGenerator, DCGANDiscriminator          ch. 4, anime faces 64x64
:mod:`.dcgan32`        DCGANGenerator32, DCGANDiscriminator32      the same, 32x32 (CPU demo)
:mod:`.cgan`           CGANGenerator, CGANCritic, one_hot,         ch. 5, eyeglasses (WGAN-GP)
                       label_planes
:mod:`.cyclegan`       ResnetGenerator, PatchDiscriminator,        ch. 6, black <-> blond hair
                       ResidualBlock
:mod:`.init`           weights_init, init_weights                  all
=====================  ==========================================  ===============================

Discriminators return logits / raw scores (no sigmoid); pair them with :mod:`gan_course.losses`.
"""

from .cgan import CGANCritic, CGANGenerator, label_planes, one_hot
from .cyclegan import PatchDiscriminator, ResidualBlock, ResnetGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .dcgan32 import DCGANDiscriminator32, DCGANGenerator32
from .init import init_weights, weights_init
from .mlp_gan import MLPDiscriminator, MLPGenerator

__all__ = [
    "CGANCritic",
    "CGANGenerator",
    "DCGANDiscriminator",
    "DCGANDiscriminator32",
    "DCGANGenerator",
    "DCGANGenerator32",
    "MLPDiscriminator",
    "MLPGenerator",
    "PatchDiscriminator",
    "ResidualBlock",
    "ResnetGenerator",
    "init_weights",
    "label_planes",
    "one_hot",
    "weights_init",
]
