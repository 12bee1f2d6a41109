"""The conv explorer's pure render function: shape text per the formula, clear invalid messages."""

import re

import pytest
import torch
from matplotlib.figure import Figure

from gan_course.notebook.conv_pictures import (
    plot_sliding_window,
    plot_transposed_scatter,
    plot_value_grids,
)
from gan_course.notebook.explorers import render_conv_explorer


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


@pytest.mark.parametrize("n,k,s,p,grey,pink", [(5, 3, 2, 1, True, False), (8, 3, 3, 0, False, True),
                                               (9, 3, 3, 1, True, True), (7, 3, 1, 0, False, False)])
def test_sliding_window_legend_names_only_colours_in_the_picture(n, k, s, p, grey, pink):
    fig = plot_sliding_window(n, k, s, p)
    ax_in = fig.axes[0]
    grid = ax_in.get_images()[0].get_array()
    assert bool((grid == 1).any()) == grey and bool((grid == 2).any()) == pink
    label = ax_in.get_xlabel()
    assert ("grey" in label) == grey and ("pink" in label) == pink
    if not (grey or pink):
        assert "every input cell" in label


def test_value_grids_write_every_value_in_its_panel():
    counts = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    fig = plot_value_grids({"k=4, s=2": counts, "flat": [[3, 3], [3, 3]]}, suptitle="stamps")
    assert [ax.get_title() for ax in fig.axes] == ["k=4, s=2", "flat"]
    texts = [[t.get_text() for t in ax.texts if t.get_gid() == "value"] for ax in fig.axes]
    assert texts[0] == ["1", "2", "1", "2", "4", "2", "1", "2", "1"] and texts[1] == ["3"] * 4
    big = plot_value_grids([torch.zeros(12, 12).numpy()])  # large grids: colours only
    assert not [t for t in big.axes[0].texts if t.get_gid() == "value"]
    with pytest.raises(ValueError, match="2-D"):
        plot_value_grids([[1, 2, 3]])
    with pytest.raises(ValueError, match="titles"):
        plot_value_grids([counts], titles=["a", "b"])
