"""Data for the course: toy stand-ins by default, the real datasets when you have them.

A training run gets its batches from its config::

    from gan_course.config import get_config
    from gan_course.data import load_data
    cfg = get_config("cgan", "demo")
    batches = load_data(cfg)                    # toy eyeglasses faces, label 0 = glasses
    images, labels = batches.first(8)           # float32 (8, 3, 32, 32) in [-1, 1], int64 (8,)

Data flows one way, one module per stage:

=====================  ==========================================================================
:mod:`.sources`        the real datasets: registry, ``fetch`` (kagglehub/torchvision), ``check``
:mod:`.toy`            procedural stand-ins written in the real datasets' on-disk layouts
:mod:`.prepare`        labelled images -> class folders exactly as the labels say (links or
                       copies; removes only what it made; never destroys)
:mod:`.tensors`        class folders -> decode-once uint8 cache (:class:`ImageCache`)
:mod:`.batches`        cache -> shuffled batches in [-1, 1] (:class:`Batches`, :class:`PairedBatches`)
:mod:`.datasets`       the path through them: ``load_data(cfg)``, ``load(name)``, folders
:mod:`.images`         one image file: usable? (whole, big enough) and its 8-bit RGB pixels
=====================  ==========================================================================
"""

from gan_course.data import toy
from gan_course.data.batches import Batches, PairedBatches, to_unit_range
from gan_course.data.datasets import (
    IMAGE_SETS,
    fashion_arrays,
    load,
    load_data,
    load_fashion,
    prepare,
    prepared_dir,
    source_dir,
    toy_defaults,
    toy_dir,
    write_toy,
)
from gan_course.data.prepare import (
    EYEGLASSES_CLASSES,
    HAIR_CLASSES,
    PrepareReport,
    prepare_celeba_hair,
    prepare_eyeglasses,
)
from gan_course.data.sources import DATASETS, CheckReport, DataError, check, fetch
from gan_course.data.tensors import ImageCache, build_cache

__all__ = [
    "DATASETS", "EYEGLASSES_CLASSES", "HAIR_CLASSES", "IMAGE_SETS", "Batches", "CheckReport",
    "DataError", "ImageCache", "fashion_arrays", "PairedBatches", "PrepareReport", "build_cache", "check", "fetch",
    "load", "load_data", "load_fashion", "prepare", "prepare_celeba_hair", "prepare_eyeglasses",
    "prepared_dir", "source_dir", "to_unit_range", "toy", "toy_defaults", "toy_dir", "write_toy",
]
