"""The conv explorer's pure render function: shape text per the formula, clear invalid messages."""

import re

import pytest
import torch
from matplotlib.figure import Figure

from gan_course.notebook.conv_pictures import plot_transposed_scatter
from gan_course.notebook.explorers import render_conv_explorer


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: extra intra-op threads only add sync overhead on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _shape(text):
    m = re.match(r"output shape: \(1, 1, (\d+), (\d+)\)", text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def _artists(fig, gid):
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


@pytest.mark.parametrize("n,k,p", [(7, 3, 0), (8, 3, 1), (12, 4, 1), (5, 1, 0)])
def test_text_follows_formula_as_stride_changes(n, k, p):
    seen = []
    for s in (1, 2, 3, 4):
        text, fig = render_conv_explorer(n, k, s, p)
        expected = (n + 2 * p - k) // s + 1
        assert _shape(text) == (expected, expected)
        # ... and equals what a real layer produces
        real = torch.nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, n, n)).shape
        assert text.splitlines()[0] == f"output shape: {tuple(real)}"
        assert isinstance(fig, Figure)
        seen.append(expected)
    assert len(set(seen)) > 1, "changing the stride should change the output shape"


@pytest.mark.parametrize("n,k,s,p", [(7, 3, 1, 0), (7, 3, 2, 1), (6, 2, 2, 0), (5, 5, 1, 0)])
def test_figure_has_one_dot_per_window_position(n, k, s, p):
    _, fig = render_conv_explorer(n, k, s, p)
    out = (n + 2 * p - k) // s + 1
    (dots,) = _artists(fig, "window-centres")
    assert len(dots.get_offsets()) == out * out
    assert len(_artists(fig, "window-first")) == 1
    assert len(_artists(fig, "window-next")) == (2 if out > 1 else 0)


@pytest.mark.parametrize("n,k,s,p", [(3, 5, 1, 0), (2, 7, 2, 2), (1, 4, 1, 1)])
def test_invalid_settings_give_a_message_not_an_exception(n, k, s, p):
    text, fig = render_conv_explorer(n, k, s, p)
    assert text.startswith("invalid:")
    assert "larger than the padded input" in text and str(n + 2 * p) in text
    assert isinstance(fig, Figure)
    assert len(_artists(fig, "window-overflow")) == 1


def test_nonpositive_sizes_give_a_message():
    text, fig = render_conv_explorer(5, 3, 0, 0)
    assert text.startswith("invalid:") and "stride" in text
    assert isinstance(fig, Figure)


def test_transposed_scatter_has_one_stamp_per_input_cell():
    fig = plot_transposed_scatter([[1, 0], [2, 3]], [[2, 3], [4, 5]], stride=2)
    assert len(_artists(fig, "stamp")) == 4
    fig = plot_transposed_scatter([[1, 2, 3]], [[1, 1, 1]] * 3, stride=1, padding=1)
    assert len(_artists(fig, "stamp")) == 3 and len(_artists(fig, "kept-output")) == 1
    with pytest.raises(ValueError, match="at most 4"):
        plot_transposed_scatter(torch.zeros(5, 5).numpy(), [[1]])
