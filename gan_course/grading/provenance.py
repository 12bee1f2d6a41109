"""Where does an answer come from? Reject answers taken from the ``gan_course`` package.

The course package holds tested versions of most exercises (the convolution by hand, the
gradient penalty, the networks), so ``from gan_course.conv import conv2d_numpy`` would otherwise
answer an exercise in one line, and a four-line wrapper around a reference implementation would
pass every check. Two independent looks catch that:

1. **Static** (:func:`package_use`): walk the answer — a function, a class, a module instance,
   a ``functools.partial`` — and everything its code refers to: its globals, closure cells and
   default values, nested functions and lambdas, the methods of its classes, their base
   classes, the layers inside a returned ``nn.Module``, and ``import``/``import_module`` of a
   ``gan_course`` module inside the body. Student code (defined in the notebook, or any module
   outside the standard library and the installed third-party packages) is followed; library
   code (torch, numpy, ...) is not, so the walk stays small.
2. **Dynamic** (:func:`watch_package_calls`): while the check runs the student's code, a
   profile hook records every Python function of ``gan_course`` that executes — this catches
   whatever the static walk cannot see (``getattr`` tricks, objects built elsewhere).

``gan_course.runtime`` (seeding, device) is allowed: it helps a notebook run, it answers nothing.
Code of ``gan_course.grading`` that a check itself passes to the student (a test critic) is
exempt from the dynamic look, not from the static one.
"""

from __future__ import annotations

import functools
import re
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch import nn

PACKAGE = "gan_course"
ALLOWED = ("gan_course.runtime",)
"""Package modules an answer may use: they set a notebook up, they contain no answers."""

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_GRADING_DIR = str(Path(__file__).resolve().parent)
_MODULE_PATH = re.compile(r"^gan_course(\.\w+)*$")
_MAX_OBJECTS = 5000  # a bound on the walk, far above any real answer


def _from_package(module: str | None) -> bool:
    if not module or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
        return False
    return not any(module == a or module.startswith(a + ".") for a in ALLOWED)


def _package_file(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR) and not any(
        filename.startswith(str(Path(_PACKAGE_DIR).parent / (a.replace(".", "/"))))
        for a in ALLOWED)


@functools.lru_cache(maxsize=512)
def _is_library(module: str | None) -> bool:
    """True for the standard library and installed third-party packages (not followed)."""
    if not module:
        return True
    if module == "__main__":
        return False
    top = module.split(".")[0]
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return True
    mod = sys.modules.get(module) or sys.modules.get(top)
    parts = Path(getattr(mod, "__file__", "") or "").parts
    return "site-packages" in parts or "dist-packages" in parts


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{module}.{name}"


class _Walk:
    """One static walk over an answer; :meth:`visit` returns the first package use found."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def visit(self, obj: Any, path: str) -> str | None:
        if id(obj) in self.seen or len(self.seen) > _MAX_OBJECTS:
            return None
        self.seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            return f"{path} uses the module {obj.__name__}" if _from_package(obj.__name__) else None
        if isinstance(obj, functools.partial):
            return self.visit_all([obj.func, *obj.args, *obj.keywords.values()], path)
        if isinstance(obj, types.MethodType):
            return self.visit_all([obj.__func__, obj.__self__], path)
        if isinstance(obj, (staticmethod, classmethod)):
            return self.visit(obj.__func__, path)
        if isinstance(obj, property):
            return self.visit_all([obj.fget, obj.fset, obj.fdel], path)
        if isinstance(obj, types.FunctionType):
            return self.function(obj, path)
        if isinstance(obj, type):
            return self.cls(obj, path)
        if isinstance(obj, nn.Module):
            return self.visit_all([type(m) for m in obj.modules()], path)
        if isinstance(obj, (list, tuple, set, frozenset)) and len(obj) <= 1000:
            return self.visit_all(list(obj), path)
        if isinstance(obj, dict) and len(obj) <= 1000:
            return self.visit_all(list(obj.values()), path)
        if callable(obj):  # builtins, other callable instances
            if _from_package(getattr(obj, "__module__", None)) or _from_package(type(obj).__module__):
                return f"{path} is {_describe(obj)}"
            if not isinstance(obj, types.BuiltinFunctionType) and not _is_library(type(obj).__module__):
                return self.cls(type(obj), path)
        return None

    def visit_all(self, objs: list, path: str) -> str | None:
        for o in objs:
            if o is not None and (found := self.visit(o, path)):
                return found
        return None

    def function(self, fn: types.FunctionType, path: str) -> str | None:
        if _from_package(fn.__module__) or _package_file(fn.__code__.co_filename):
            return f"{path} is {_describe(fn)}"
        if _is_library(fn.__module__):
            return None
        found = self.code(fn.__code__, fn.__globals__, path)
        cells = [c.cell_contents for c in (fn.__closure__ or ()) if _filled(c)]
        extra = [*cells, *(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values(),
                 getattr(fn, "__wrapped__", None)]
        return found or self.visit_all(extra, path)

    def code(self, code: types.CodeType, globals_: dict, path: str) -> str | None:
        for name in code.co_names:
            if _MODULE_PATH.match(name) and _from_package(name):
                return f"{path} imports {name}"
            if name in globals_ and (found := self.visit(globals_[name], f"{path} → {name}")):
                return found
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                if found := self.code(const, globals_, path):
                    return found
            elif isinstance(const, str) and _MODULE_PATH.match(const) and _from_package(const):
                return f"{path} imports {const}"
        return None

    def cls(self, cls: type, path: str) -> str | None:
        for base in cls.__mro__:
            if _from_package(base.__module__):
                what = "is" if base is cls else "subclasses"
                return f"{path} {what} {_describe(base)}"
        if _is_library(cls.__module__):
            return None
        members = [v for k, v in vars(cls).items() if not (k.startswith("__") and k.endswith("__"))
                   or isinstance(v, (types.FunctionType, staticmethod, classmethod, property))]
        return self.visit_all(members, path)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises ValueError)
    except ValueError:
        return False
    return True


def package_use(answer: Any, name: str) -> str | None:
    """Describe how ``answer`` uses the ``gan_course`` package, or ``None`` if it does not.

    ``name`` labels the answer in the description, e.g. ``"conv2d_by_hand → conv2d_numpy is
    gan_course.conv.conv2d_numpy"``.
    """
    return _Walk().visit(answer, name)


def reject_package_answer(answer: Any, name: str) -> None:
    """Raise an ``AssertionError`` if ``answer`` comes from (or calls into) ``gan_course``."""
    found = package_use(answer, name)
    if found:
        raise AssertionError(package_message(name, found))


def package_message(name: str, found: str) -> str:
    """The failure message for an answer that uses the course package."""
    return (f"{name}: answer taken from the gan_course package ({found}). Write the code "
            f"yourself in the answer cell: torch and numpy are fine, gan_course is not.")


@contextmanager
def watch_package_calls() -> Iterator[list[str]]:
    """Record (in the yielded list) every ``gan_course`` function that runs inside the block.

    Functions of ``gan_course.grading`` (the check's own test objects) and of the allowed
    modules are not recorded. A profiler active before the block is paused inside it and
    restored afterwards.
    """
    found: list[str] = []
    exempt = (_GRADING_DIR, *(str(Path(_PACKAGE_DIR).parent / a.replace(".", "/")) for a in ALLOWED))
    previous = sys.getprofile()

    def hook(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call":
            filename = frame.f_code.co_filename
            if filename.startswith(_PACKAGE_DIR) and not filename.startswith(exempt) and not found:
                found.append(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}")

    sys.setprofile(hook)
    try:
        yield found
    finally:
        sys.setprofile(previous)
