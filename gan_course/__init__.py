"""gan_course: the models, losses, data code and training loops shared by the GAN course notebooks.

Start with :mod:`gan_course.runtime` (device, seed, profile, data root), then
:mod:`gan_course.data` (toy and real datasets), :mod:`gan_course.models`,
:mod:`gan_course.losses` and :mod:`gan_course.training`.
"""

__version__ = "0.2.0"
