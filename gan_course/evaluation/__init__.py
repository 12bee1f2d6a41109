"""Evaluation: held-out judges, the scores, KID with its floor, and ``evaluate()`` per task.

=====================  =======================================================================
:mod:`.heldout`        toy faces/garments the course never trains on (seed ranges disjoint
                       from every training set); the CycleGAN oracle pairs
:mod:`.classifiers`    the judges' small CNN, its training (with a held-out split), the cache,
                       classifiers trained on a chapter's own (real) training set
:mod:`.judges`         the held-out judges: glasses, hair (black/blond/other), male, garment
:mod:`.scores`         coverage (TV distance, confidence), conditional accuracy, flip rate,
                       domain rate, round-trip L1, oracle L1
:mod:`.distances`      KID on the judges' features with its real-vs-real floor; optional
                       Inception FID/KID
:mod:`.evaluate`       ``evaluate(task, checkpoint)`` / ``evaluate_task(task)`` -> rows
                       (trained | untrained | real | target) and ``format_table``
=====================  =======================================================================
"""

from gan_course.evaluation.classifiers import (
    ATTRIBUTES,
    AttributeClassifier,
    FeatureStack,
    classifier_path,
    get_attribute_classifier,
    predict,
    predict_proba,
    train_attribute_classifier,
)
from gan_course.evaluation.distances import (
    KID_CAVEAT,
    KIDReport,
    KIDResult,
    MetricsUnavailable,
    extract_features,
    inception_fid,
    inception_kid,
    inception_weights_path,
    kid,
    kid_images,
    kid_with_floor,
)
from gan_course.evaluation.evaluate import (
    TASKS,
    Row,
    evaluate,
    evaluate_pretrained,
    evaluate_task,
    format_table,
)
from gan_course.evaluation.judges import JUDGES, get_judge, judge_features
from gan_course.evaluation.scores import (
    Coverage,
    conditional_accuracy,
    coverage,
    domain_rate,
    flip_rate,
    histogram,
    oracle_l1,
    round_trip_l1,
    tv_distance,
)

__all__ = [
    "ATTRIBUTES", "AttributeClassifier", "Coverage", "FeatureStack", "JUDGES", "KIDReport",
    "KIDResult", "KID_CAVEAT", "MetricsUnavailable", "Row", "TASKS", "classifier_path",
    "conditional_accuracy", "coverage", "domain_rate", "evaluate", "evaluate_pretrained",
    "evaluate_task",
    "extract_features", "flip_rate", "format_table", "get_attribute_classifier", "get_judge",
    "histogram", "inception_fid", "inception_kid", "inception_weights_path", "judge_features",
    "kid", "kid_images", "kid_with_floor", "oracle_l1", "predict", "predict_proba",
    "round_trip_l1", "train_attribute_classifier", "tv_distance",
]
