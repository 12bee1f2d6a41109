"""Compatibility shim: the metrics moved to :mod:`gan_course.evaluation` (judges, scores, KID).

``from gan_course import metrics`` keeps working for existing notebooks and assignments; new code
imports from :mod:`gan_course.evaluation`. (To be removed when the notebooks are re-executed.)
"""

from gan_course.evaluation import *  # noqa: F403
from gan_course.evaluation import __all__  # noqa: F401
from gan_course.evaluation.classifiers import _batched, _take, _to_unit  # noqa: F401
from gan_course.evaluation.distances import (  # noqa: F401
    INCEPTION_WEIGHTS_ENV,
    INCEPTION_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_URL,
    _mmd2_unbiased,
    _torch_fidelity_available,
)
