"""Shared helpers of the check functions: calling student code, turning results into clear messages.

Every check starts with :func:`own_answer` (the answer must not come from ``gan_course``, see
:mod:`gan_course.grading.provenance`) and calls the student's code through :func:`call`, which
turns a missing answer (``NotImplementedError``) or a crash into an ``AssertionError`` naming the
call, and fails the answer if package code runs inside it. A check prints one ✔ line when it
passes (:func:`passed`) and returns ``None``: nbgrader would read a returned number as a grade.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..provenance import package_message, reject_package_answer, watch_package_calls


def passed(name: str, n_cases: int) -> None:
    """Print the one-line success message every check ends with."""
    print(f"✔ {name}: {n_cases}/{n_cases} cases")


def problem(check: Callable[..., None], *args: Any) -> str | None:
    """Run another check silently: its failure message, or ``None`` when it passes."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(*args)
    except AssertionError as exc:
        return str(exc)
    return None


def own_answer(answer: Any, name: str) -> None:
    """Fail when ``answer`` is (or uses) code of the ``gan_course`` package."""
    reject_package_answer(answer, name)


def short(value: Any) -> str:
    """A short description of an argument for messages: arrays show their shape, not content."""
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, nn.Module):
        return type(value).__name__
    return repr(value)


def fmt_args(args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> str:
    """``args`` and ``kwargs`` as they would be written in a call, shortened."""
    parts = [short(a) for a in args]
    parts += [f"{k}={short(v)}" for k, v in (kwargs or {}).items()]
    return ", ".join(parts)


def call(fn: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn a missing answer, a crash or package code into a failure."""
    if not callable(fn):
        raise AssertionError(f"{name}: expected a function (or class), got {type(fn).__name__}. "
                             f"Pass the function itself, without calling it: check_x(my_fn).")
    with watch_package_calls() as used:
        try:
            result = fn(*args, **kwargs)
        except NotImplementedError:
            raise AssertionError(
                f"{name} is not implemented yet: replace `raise NotImplementedError()` with "
                f"your code, run that cell, then run this check again.") from None
        except Exception as exc:  # any crash in student code becomes an actionable failure
            raise AssertionError(f"{name}({fmt_args(args, kwargs)}) raised "
                                 f"{type(exc).__name__}: {exc}") from exc
    if used:
        raise AssertionError(package_message(name, f"it runs {used[0]}"))
    return result


def as_int(value: Any, call_text: str) -> int:
    """``value`` as an int, or a failure that says why it is not one."""
    if isinstance(value, bool):
        raise AssertionError(f"{call_text}: returned a bool ({value}); return the size as an int.")
    if isinstance(value, float):
        raise AssertionError(f"{call_text}: returned the float {value}; a size is an int — use "
                             f"integer division `//` (it also does the floor) or wrap it in int().")
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise AssertionError(f"{call_text}: returned {value!r} ({type(value).__name__}); "
                             f"return the size as an int.") from None


def to_numpy(value: Any, call_text: str) -> np.ndarray:
    """``value`` as a float64 array, or a failure that says what to return instead."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{call_text}: returned {type(value).__name__}, which is not an array "
                             f"of numbers; return a NumPy array (e.g. np.zeros((H_out, W_out))).") from None


def first_difference(got: np.ndarray, want: np.ndarray) -> str:
    """Where two same-shape arrays first differ, as ``output[i, j] expected a, got b``."""
    idx = tuple(int(i) for i in np.argwhere(~np.isclose(got, want, atol=1e-6))[0])
    return f"output[{', '.join(map(str, idx))}] expected {want[idx]:g}, got {got[idx]:g}"


def grid(a: np.ndarray) -> str:
    """A small array printed with two decimals (for messages)."""
    return np.array2string(np.asarray(a), precision=2, suppress_small=True)


def close(a: torch.Tensor | float, b: torch.Tensor | float, tol: float = 1e-5) -> bool:
    """Same shape and equal within ``tol`` (absolute and relative), compared in float64."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=tol, rtol=tol))


def scalar_tensor(value: Any, call_text: str) -> torch.Tensor:
    """``value`` if it is a 0-dim tensor, else a failure that says how to make one."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{call_text}: returned {type(value).__name__}; return a torch tensor "
                             f"(a 0-dim tensor, so it can be back-propagated — no .item()).")
    if value.dim() != 0:
        raise AssertionError(f"{call_text}: expected a scalar (0-dim) tensor, got shape "
                             f"{tuple(value.shape)} — average over the batch with .mean().")
    return value


def modules_of(model: nn.Module, kind: type | tuple[type, ...]) -> list[nn.Module]:
    """Every sub-module of ``model`` (itself included) that is a ``kind``."""
    return [m for m in model.modules() if isinstance(m, kind)]


def get_module(obj: Any, name: str, *args: Any) -> nn.Module:
    """``obj`` may be a module or a function/class that builds one from ``args``."""
    model = obj if isinstance(obj, nn.Module) else call(obj, name, *args)
    if not isinstance(model, nn.Module):
        raise AssertionError(f"{name}({fmt_args(args)}) returned {type(model).__name__}; "
                             f"return a torch.nn.Module (e.g. nn.Sequential(...)).")
    own_answer(model, f"{name}({fmt_args(args)})")
    return model


def shape_msg(call_text: str, got: tuple, want: tuple, hint: str = "") -> str:
    """``call: expected shape want, got got — hint``."""
    return f"{call_text}: expected shape {want}, got {got}" + (f" — {hint}" if hint else "")


def shape_of(value: Any) -> tuple | str:
    """The shape of a tensor, or the type name of anything else (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
