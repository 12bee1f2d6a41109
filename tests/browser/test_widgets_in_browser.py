"""Real-browser tests: JupyterLab in headless Chromium runs notebooks and a person's slider moves.

nbval cannot see widgets, so these tests use them the way a student does: open the notebook in
JupyterLab, run all cells (smoke profile), move a slider with the keyboard, and check that what the
widget shows changes the way it should. Screenshots land in ``artifacts/browser/``.
"""

from __future__ import annotations

import re

import pytest

from .lab import (
    chromium_page,
    jupyter_lab,
    open_notebook_and_run_all,
    screenshot,
    wait_kernel_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

NB02 = "notebooks/02_convolution_padding_stride.ipynb"
NB06 = "notebooks/06_cgan_wgan_gp_eyeglasses.ipynb"


def _slider(page, description: str):
    """The ipywidgets slider whose label reads exactly ``description``."""
    label = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
    slider = page.locator(".widget-slider", has=label)
    slider.first.wait_for(state="visible")
    return slider.first


def _wait_for_change(page, script: str, handle, before, what: str, timeout_ms: int) -> None:
    """Wait until ``script(el, before)`` holds; fail with a sentence a person understands."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(script, arg=[handle, before], timeout=timeout_ms)
    except PlaywrightTimeout:
        pytest.fail(f"{what} did not change within {timeout_ms / 1000:.0f} s: the widget stopped updating")


def _readout(slider) -> int:
    return int(float(slider.locator(".widget-readout").inner_text().strip()))


def _press(slider, page, key: str, times: int = 1) -> None:
    """Focus the slider's handle like a person would (click) and move it with the keyboard."""
    slider.locator(".noUi-handle").first.click()
    for _ in range(times):
        page.keyboard.press(key)


def test_conv_explorer_stride_slider_updates_output_shape(tmp_path):
    with jupyter_lab(tmp_path, [NB02]) as (base, token), chromium_page(tmp_path) as page:
        errors = open_notebook_and_run_all(page, base, token, NB02)
        assert errors == 0, "notebook 02 raised errors when run in JupyterLab"

        stride = _slider(page, "stride")
        stride.scroll_into_view_if_needed()
        shape_text = page.locator(".widget-html-content, .widget-label",
                                  has_text="output shape").last
        before = shape_text.inner_text()
        screenshot(page, "02_conv_explorer_before")

        old = _readout(stride)
        _press(stride, page, "ArrowRight" if old == 1 else "ArrowLeft")
        new = _readout(stride)
        assert new != old, "the stride slider did not move"
        _wait_for_change(page, "([el, before]) => el.innerText !== before",
                         shape_text.element_handle(), before,
                         "the 'output shape' text after moving 'stride'", 15_000)
        after = shape_text.inner_text()
        wait_kernel_idle(page)  # let the sliding-window picture redraw before the screenshot
        screenshot(page, "02_conv_explorer_after")

        # The shown shape must follow the output-size formula for the values now on the sliders.
        n, k, p = (_readout(_slider(page, d)) for d in ("input size", "kernel size", "padding"))
        side = (n + 2 * p - k) // new + 1
        assert f"({side}, {side})" in after.replace("1, 1, ", ""), (before, after, n, k, p, new)


def test_cgan_explorer_label_weight_slider_changes_image(tmp_path):
    with jupyter_lab(tmp_path, [NB06]) as (base, token), chromium_page(tmp_path) as page:
        errors = open_notebook_and_run_all(page, base, token, NB06, timeout_s=360)
        assert errors == 0, "notebook 06 raised errors when run in JupyterLab"

        weight = _slider(page, "label weight")
        weight.scroll_into_view_if_needed()
        box = page.locator(".widget-box", has=page.locator(".widget-label", has_text="label weight"))
        image = box.last.locator("img").first
        image.wait_for(state="visible")
        before = image.get_attribute("src")
        screenshot(page, "06_cgan_explorer_before")

        start = weight.locator(".widget-readout").inner_text()
        _press(weight, page, "End")  # jump the slider to the other end of its range
        if weight.locator(".widget-readout").inner_text() == start:
            _press(weight, page, "Home")
        assert weight.locator(".widget-readout").inner_text() != start, "slider did not move"
        _wait_for_change(page, "([el, before]) => el.getAttribute('src') !== before",
                         image.element_handle(), before,
                         "the generated image after moving 'label weight'", 30_000)
        after = image.get_attribute("src")
        wait_kernel_idle(page)
        screenshot(page, "06_cgan_explorer_after")
        assert after and after != before, "moving 'label weight' did not change the generated image"
