"""The book's own pretrained generators, loaded into the course's networks.

The book publishes three weight files (publisher's site; the book's repository warns that the
original links may break):

==================  ==============================================  ==================================
book file           what it is                                      course network
==================  ==============================================  ==================================
``cgan.pth``        ch. 5 cGAN generator, 256x256 eyeglasses faces  :class:`~.cgan.CGANGenerator`
``gen_black.pth``   ch. 6 ``gen_A``: blond -> black hair (256x256)  :class:`~.cyclegan.ResnetGenerator`
                                                                    as the CycleGAN task's ``G_BA``
``gen_blond.pth``   ch. 6 ``gen_B``: black -> blond hair            ... as ``G_AB``
==================  ==============================================  ==================================

The book saves all three with ``torch.save(gen.state_dict(), path)`` -- plain tensors, which
``torch.load(path, weights_only=True)`` reads without running any code from the file.

**Direction of the CycleGAN files.** The book's domain A is black hair and B blond
(``LoadData(root_A=["files/black/"], root_B=["files/blond/"])``); its training step computes
``fake_A = gen_A(B)`` and ``fake_B = gen_B(A)``, then saves ``gen_A`` as ``gen_black.pth`` and
``gen_B`` as ``gen_blond.pth``. So each file is named after the hair colour it *produces*:
``gen_black.pth`` turns blond into black (the course's ``G_BA``), ``gen_blond.pth`` turns black
into blond (``G_AB``).

**Label order of the cGAN.** The book sorts the faces into ``files/glasses/G`` and
``files/glasses/NoG`` and reads them with ``ImageFolder``, which numbers folders alphabetically:
``G`` = 0 (glasses), ``NoG`` = 1; its one-hot ``[1, 0]`` asks for glasses. The course uses the same
order (label 0 = glasses), so no conversion is needed; :data:`BOOK_CLASS_ORDER` records the book's
order and :func:`import_cgan_generator` would permute the label inputs if the two ever differed.

**How the mapping works.** The book's modules have other names than the course's
(``net.1.0.weight`` vs ``main.3.weight``; ``res_blocks.0.block.0.conv.0.weight`` vs
``residuals.0.block.0.weight``), but both list their layers in the same order with the same
shapes. :func:`map_state_dict` therefore pairs tensor *i* of the file with tensor *i* of the course
model and checks that every pair has the same shape and the same kind (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``); the first pair that disagrees, and any
tensor left over on either side, is reported by number, name and shape. BatchNorm running
statistics are copied (they are what an eval-mode generator uses); the CycleGAN's InstanceNorm
layers have no affine weights and no running statistics, so they hold no tensors on either side.
The architecture (latent size, width, image size, number of residual blocks) is read off the
tensors' shapes before the course model is built.

Usage::

    from gan_course.models.book_weights import import_cgan_generator
    G, info = import_cgan_generator("cgan.pth")        # CGANGenerator, eval mode
    faces = G(torch.randn(4, info["latent_dim"]), torch.tensor([0, 0, 1, 1]))  # 0 = glasses

To get a course checkpoint that ``python -m gan_course sample`` / ``evaluate`` and the notebooks'
explorers accept, use ``python -m gan_course weights import-book FILE --out DIR`` (see
:mod:`gan_course.training.book_checkpoint`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from gan_course.models.cgan import CGANGenerator
from gan_course.models.cyclegan import ResnetGenerator

BOOK_FILES = {"cgan": "cgan.pth", "cyclegan-black": "gen_black.pth",
              "cyclegan-blond": "gen_blond.pth"}
"""Which book file each import kind expects (the names the book saves them under)."""

BOOK_KINDS = tuple(BOOK_FILES)

CYCLEGAN_TARGET = {"cyclegan-black": "G_BA", "cyclegan-blond": "G_AB"}
"""Course model each CycleGAN file becomes: gen_black.pth (blond -> black) is ``G_BA``,
gen_blond.pth (black -> blond) is ``G_AB`` (course: A = black hair, B = blond)."""

BOOK_CLASS_ORDER = ("glasses", "no_glasses")
"""The book's cGAN label order: ImageFolder on ``files/glasses/{G,NoG}`` -> G (glasses) = 0."""

COURSE_CLASS_ORDER = ("glasses", "no_glasses")
"""The course's order (``gan_course.data.prepare.EYEGLASSES_CLASSES``; label 0 = glasses)."""

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "generator", "gen", "G")
"""Keys under which a dict may wrap the state dict (``{"state_dict": ...}``); the book's own
files are bare state dicts."""

_ACCEPTED = ("a state dict saved with torch.save(model.state_dict(), path) -- as the book saves "
             "cgan.pth, gen_black.pth and gen_blond.pth -- or a dict holding one under "
             + "/".join(repr(k) for k in WRAPPER_KEYS))


class BookWeightsError(ValueError):
    """A weight file cannot be read safely, or does not fit the course's network."""


# ----------------------------------------------------------------------------- reading
def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder and ``constants.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _refused_global(exc: Exception) -> str:
    for line in str(exc).splitlines():
        if "Unsupported global" in line:
            return line.split("Unsupported global:")[-1].split(" was not")[0].replace(
                "GLOBAL", "").strip()
    return "a Python object"


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` with ``torch.load(..., weights_only=True)`` on the CPU.

    Accepts a bare state dict (what the book saves) or a dict wrapping one under a key of
    :data:`WRAPPER_KEYS`. Raises :class:`BookWeightsError` saying what was found and what is
    accepted for: a missing file, a TorchScript archive, a whole pickled model (refused: loading
    it would run code from the file), a truncated or non-PyTorch file, or content that is not a
    dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder; pass the .pth file inside)" if path.is_dir() else ""
        raise BookWeightsError(f"No weight file at {path}{hint}. Pass the path of the book's "
                               f"cgan.pth, gen_black.pth or gen_blond.pth.")
    if _is_torchscript(path):
        raise BookWeightsError(
            f"{path} is a TorchScript archive (saved with torch.jit.script(...).save / "
            f"torch.jit.save), not a state dict. Accepted: {_ACCEPTED}. If you trust the file, "
            f"convert it once: torch.save(torch.jit.load('{path.name}').state_dict(), "
            f"'weights.pth').")
    with open(path, "rb") as fh:
        head = fh.read(4)
    # torch.save writes a zip archive; files of PyTorch < 1.6 start with a pickle (0x80 ...)
    if not head or not (head[:2] == b"PK" or head[:1] == b"\x80"):
        what = "is empty" if not head else f"does not start like one (first bytes {head!r})"
        raise BookWeightsError(f"{path} is not a PyTorch file: it {what}. Download it again; "
                               f"accepted: {_ACCEPTED}.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():
            raise BookWeightsError(
                f"Refusing to load {path}: it holds a pickled Python object "
                f"({_refused_global(exc)}) -- a whole model saved with torch.save(model) -- and "
                f"unpickling it could run arbitrary code. Accepted: {_ACCEPTED}. If you trust "
                f"the file and have its class, convert it once: load it with torch.load and "
                f"weights_only=False, then torch.save(model.state_dict(), 'weights.pth').") from None
        raise BookWeightsError(f"Cannot read {path}: the file is truncated or corrupted "
                               f"({str(exc).splitlines()[0]}). Download it again.") from None
    except Exception as exc:  # noqa: BLE001 - any other failure means an unreadable file
        detail = (str(exc).splitlines() or [""])[0].split(". ")[0] or type(exc).__name__
        raise BookWeightsError(f"Cannot read {path}: the file is truncated or corrupted "
                               f"({detail}). Download it again.") from None
    return _unwrap(obj, path)


def _unwrap(obj, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise BookWeightsError(f"{path} holds a {type(obj).__name__}, not a state dict. "
                               f"Accepted: {_ACCEPTED}.")
    fmt = obj.get("format")
    if isinstance(fmt, str) and fmt.startswith("gan_course.checkpoint"):
        raise BookWeightsError(f"{path} is already a gan_course checkpoint: pass it directly to "
                               f"`python -m gan_course sample/evaluate --checkpoint`.")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(
                isinstance(v, torch.Tensor) for v in inner.values()):
            return dict(inner)
    keys = ", ".join(repr(k) for k in list(obj)[:6]) or "no keys"
    raise BookWeightsError(f"{path} holds a dict ({keys}) that is not a state dict of tensors. "
                           f"Accepted: {_ACCEPTED}.")


def _as_state_dict(source) -> tuple[dict[str, torch.Tensor], str]:
    """``source`` = a path or an in-memory state dict -> (state dict, name for messages)."""
    if isinstance(source, Mapping):
        return _unwrap(source, Path("<state dict>")), "the state dict"
    return load_state_dict_file(source), str(source)


# ----------------------------------------------------------------------------- mapping
def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _fmt(key: str, t: torch.Tensor) -> str:
    return f"{key} {tuple(t.shape)}"


def map_state_dict(book: Mapping[str, torch.Tensor], model: nn.Module,
                   what: str = "the course model") -> dict[str, torch.Tensor]:
    """Pair the file's tensors with ``model``'s by position; return ``model``'s state dict filled.

    Tensor *i* of ``book`` must have the shape and the kind (last name part: ``weight``,
    ``bias``, ``running_mean``, ...) of tensor *i* of ``model.state_dict()``; names may differ.
    Floating tensors are cast to the model's dtype (a half-precision file still loads). A file
    without any ``num_batches_tracked`` buffers (saved by a very old PyTorch) keeps the model's.
    Raises :class:`BookWeightsError` naming the first tensor (1-based number, name, shape) that
    has no counterpart, or holds NaN/inf.
    """
    ours = model.state_dict()
    theirs = list(book.items())
    if not any(_kind(k) == "num_batches_tracked" for k, _ in theirs):
        # only BatchNorm's step counter; it matters for momentum=None, which nobody here uses
        ours_items = [(k, v) for k, v in ours.items() if _kind(k) != "num_batches_tracked"]
    else:
        ours_items = list(ours.items())
    mapped: dict[str, torch.Tensor] = {}
    for i in range(max(len(theirs), len(ours_items))):
        if i >= len(ours_items):
            k, t = theirs[i]
            raise BookWeightsError(
                f"book tensor #{i + 1} {_fmt(k, t)} has no counterpart: {what} has only "
                f"{len(ours_items)} tensors and the file {len(theirs)} -- the file holds a larger "
                f"network than this architecture.")
        if i >= len(theirs):
            k, t = ours_items[i]
            raise BookWeightsError(
                f"the file ends after {len(theirs)} tensors: {what}'s tensor #{i + 1} "
                f"{_fmt(k, t)} has no counterpart in it ({len(ours_items)} expected).")
        (bk, bt), (ck, ct) = theirs[i], ours_items[i]
        if tuple(bt.shape) != tuple(ct.shape) or _kind(bk) != _kind(ck):
            raise BookWeightsError(
                f"book tensor #{i + 1} {_fmt(bk, bt)} has no counterpart: {what}'s tensor "
                f"#{i + 1} is {_fmt(ck, ct)}.")
        if bt.is_floating_point() and not torch.isfinite(bt).all():
            raise BookWeightsError(f"book tensor #{i + 1} {bk} contains NaN or inf values: the "
                                   f"file is damaged (or the run it came from diverged).")
        mapped[ck] = bt.detach().to(ct.dtype).clone()
    for k, v in ours.items():
        mapped.setdefault(k, v)  # only num_batches_tracked, when the file has none
    return mapped


def _conv_weights(sd: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, t) for k, t in sd.items() if t.dim() == 4]


def guess_kind(sd: Mapping[str, torch.Tensor]) -> str | None:
    """``"cgan"`` / ``"cyclegan"`` from the first convolution's kernel (4x4 vs 7x7), else None."""
    convs = _conv_weights(sd)
    if not convs:
        return None
    kernel = tuple(convs[0][1].shape[-2:])
    return {(4, 4): "cgan", (7, 7): "cyclegan"}.get(kernel)


def _wrong_kind(sd, name: str, want: str) -> BookWeightsError | None:
    got = guess_kind(sd)
    if got == want:
        return None
    convs = _conv_weights(sd)
    first = _fmt(*convs[0]) if convs else "none (no 4-D convolution weights at all)"
    expect = {"cgan": "a 4x4 transposed convolution, e.g. net.0.0.weight (102, 1024, 4, 4)",
              "cyclegan": "a 7x7 convolution, e.g. initial.0.weight (64, 3, 7, 7)"}[want]
    hint = {"cyclegan": " It looks like a CycleGAN generator: use --task cyclegan-black "
                        "(gen_black.pth) or --task cyclegan-blond (gen_blond.pth).",
            "cgan": " It looks like the book's cGAN generator: use --task cgan."}.get(got, "")
    label = {"cgan": "the book's cGAN generator", "cyclegan": "a book CycleGAN generator"}[want]
    return BookWeightsError(f"{name} does not hold {label}: its first convolution weight is "
                            f"{first}, expected {expect}.{hint}")


# ----------------------------------------------------------------------------- cGAN
def infer_cgan_config(sd: Mapping[str, torch.Tensor], num_classes: int = 2) -> dict:
    """Architecture of a cGAN generator state dict, read off its shapes.

    Returns ``latent_dim``, ``num_classes``, ``img_size``, ``features``, ``channels``: the first
    transposed convolution reads ``latent_dim + num_classes`` channels and writes ``features *
    2**n``; ``n`` stride-2 layers follow it (``n + 1`` 4-D weights in all) and the image is
    ``4 * 2**n`` pixels wide. ``num_classes`` cannot be told from shapes (the book: 2).
    """
    convs = _conv_weights(sd)
    n = len(convs) - 1
    if n < 3:
        raise BookWeightsError(
            f"a cGAN generator needs at least 4 transposed convolutions (32x32 images); this "
            f"file has {len(convs)} 4-D weights.")
    first, last = convs[0][1], convs[-1][1]
    in_ch, width = int(first.shape[0]), int(first.shape[1])
    if in_ch <= num_classes or width % 2 ** n:
        raise BookWeightsError(
            f"{_fmt(*convs[0])} cannot be the first layer of a cGAN generator with {n} stride-2 "
            f"layers: it must read latent_dim + {num_classes} channels and write a multiple of "
            f"2**{n} channels.")
    return {"latent_dim": in_ch - num_classes, "num_classes": num_classes,
            "img_size": 4 * 2 ** n, "features": width // 2 ** n, "channels": int(last.shape[1])}


def permute_label_inputs(weight: torch.Tensor, latent_dim: int, book_order=BOOK_CLASS_ORDER,
                         course_order=COURSE_CLASS_ORDER) -> torch.Tensor:
    """Reorder the label rows of the first transposed-convolution weight ``(latent+K, out, 4, 4)``.

    Both generators read ``z || onehot``; the rows after ``latent_dim`` belong to the classes in
    ``book_order``. The returned weight has them in ``course_order``, so course label ``k`` means
    what the book's class of that name meant. Same orders -> an unchanged copy.
    """
    if sorted(book_order) != sorted(course_order):
        raise BookWeightsError(f"class orders {book_order} and {course_order} name different "
                               f"classes.")
    perm = [book_order.index(name) for name in course_order]
    out = weight.clone()
    out[latent_dim:] = weight[latent_dim + torch.tensor(perm)]
    return out


def import_cgan_generator(source, num_classes: int = 2,
                          book_class_order=BOOK_CLASS_ORDER) -> tuple[CGANGenerator, dict]:
    """The book's cGAN generator (``cgan.pth`` path or state dict) as a :class:`CGANGenerator`.

    Returns ``(generator in eval mode, info)`` with ``info`` = the inferred architecture
    (:func:`infer_cgan_config`) plus ``n_tensors``. Label order is converted from
    ``book_class_order`` to the course's (identical for the book's file).
    """
    sd, name = _as_state_dict(source)
    bad = _wrong_kind(sd, name, "cgan")
    if bad:
        raise bad
    info = infer_cgan_config(sd, num_classes)
    G = CGANGenerator(info["latent_dim"], num_classes, info["img_size"], info["features"],
                      info["channels"])
    arch = (f"CGANGenerator(latent_dim={info['latent_dim']}, img_size={info['img_size']}, "
            f"features={info['features']})")
    mapped = map_state_dict(sd, G, arch)
    first_key = next(k for k, v in mapped.items() if v.dim() == 4)
    mapped[first_key] = permute_label_inputs(mapped[first_key], info["latent_dim"],
                                             book_class_order)
    G.load_state_dict(mapped)
    info["n_tensors"] = len(sd)
    return G.eval(), info


# ----------------------------------------------------------------------------- CycleGAN
def infer_cyclegan_config(sd: Mapping[str, torch.Tensor]) -> dict:
    """Architecture of a CycleGAN ResNet generator state dict: ``channels``, ``features``,
    ``num_residuals`` (``6 + 2 * num_residuals`` convolution weights; the first is
    ``(features, channels, 7, 7)``). Image size is not in the weights (the network is fully
    convolutional; the book trains at 256x256)."""
    convs = _conv_weights(sd)
    extra = len(convs) - 6
    if extra < 0 or extra % 2:
        raise BookWeightsError(
            f"a CycleGAN generator has 6 + 2 x (residual blocks) convolution weights; this file "
            f"has {len(convs)}.")
    first = convs[0][1]
    return {"channels": int(first.shape[1]), "features": int(first.shape[0]),
            "num_residuals": extra // 2}


def import_cyclegan_generator(source) -> tuple[ResnetGenerator, dict]:
    """A book CycleGAN generator (``gen_black.pth``/``gen_blond.pth`` path or state dict) as a
    :class:`ResnetGenerator` in eval mode, with ``info`` = :func:`infer_cyclegan_config` plus
    ``n_tensors``. Which course direction it is comes from the file (see :data:`CYCLEGAN_TARGET`),
    not from the weights: both directions have the same architecture."""
    sd, name = _as_state_dict(source)
    bad = _wrong_kind(sd, name, "cyclegan")
    if bad:
        raise bad
    info = infer_cyclegan_config(sd)
    G = ResnetGenerator(info["channels"], info["features"], info["num_residuals"])
    arch = (f"ResnetGenerator(features={info['features']}, "
            f"num_residuals={info['num_residuals']})")
    G.load_state_dict(map_state_dict(sd, G, arch))
    info["n_tensors"] = len(sd)
    return G.eval(), info


def kind_from_filename(path: str | os.PathLike) -> str | None:
    """``"cgan"`` / ``"cyclegan-black"`` / ``"cyclegan-blond"`` for the book's file names, else None."""
    name = Path(path).name.lower()
    return next((kind for kind, fname in BOOK_FILES.items() if name == fname), None)
