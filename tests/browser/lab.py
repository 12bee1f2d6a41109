"""A JupyterLab server and a headless Chromium for the browser tests, always shut down.

Chromium comes from the system (Debian: ``apt-get install chromium chromium-driver``); Playwright
only drives it (``executable_path``), it never downloads a browser of its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"

# Flags for a sandboxed, offline machine: no background network chatter, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def find_chromium() -> str:
    """Path of the system Chromium, or an AssertionError that says how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "No Chromium found for the browser test. Install the system browser "
        "(Debian/Ubuntu: `sudo apt-get install chromium chromium-driver`); .ci/run does this in CI."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_root(tmp: Path, notebooks: list[str]) -> Path:
    """A throwaway root holding copies of the notebooks: the browser can never save over the repo's."""
    root = tmp / "lab-root"
    for rel in notebooks:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    # No autosave and no news pop-up: the test must not write anything or wait on a dialog.
    settings = tmp / "settings" / "@jupyterlab"
    (settings / "docmanager-extension").mkdir(parents=True, exist_ok=True)
    (settings / "docmanager-extension" / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    return root


@contextlib.contextmanager
def jupyter_lab(tmp: Path, notebooks: list[str], timeout: float = 90.0):
    """Start JupyterLab on 127.0.0.1 with a random token over copies of ``notebooks``.

    Yields ``(base_url, token)``; the server and all its kernels are killed on exit, pass or fail.
    """
    root = _lab_root(tmp, notebooks)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, GAN_COURSE_PROFILE="smoke", GAN_COURSE_DEVICE="cpu",
               JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), PYTHONUNBUFFERED="1")
    log = open(tmp / "jupyter.log", "wb")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.workspaces_dir={tmp / 'ws'}",
           f"--LabApp.user_settings_dir={tmp / 'settings'}",
           "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=None",
           "--LabApp.collaborative=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited early (code {proc.returncode}); "
                                     f"log: {(tmp / 'jupyter.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not answer within {timeout:.0f} s")
            time.sleep(0.5)
        yield base, token
    finally:
        # The whole process group: the server and every kernel it started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(10)
        log.close()


@contextlib.contextmanager
def chromium_page(tmp: Path):
    """A Playwright page in the system's headless Chromium with a fresh profile directory."""
    from playwright.sync_api import sync_playwright

    exe = find_chromium()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp / "chromium-profile"), executable_path=exe, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            context.close()


def open_notebook_and_run_all(page, base: str, token: str, path: str, timeout_s: float = 240):
    """Open ``path`` in JupyterLab, wait for its kernel, run all cells, wait until all finished."""
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset")
    page.wait_for_function(
        """() => { const a = window.jupyterapp; const w = a && a.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session
                             && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=timeout_s * 1000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Finished = kernel idle again and no cell still queued/running ("[*]").
    page.wait_for_timeout(1000)
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w.sessionContext.session.kernel;
                   const busy = [...document.querySelectorAll('.jp-InputArea-prompt')]
                                 .some(e => e.textContent.includes('*'));
                   return k.status === 'idle' && !busy; }""", timeout=timeout_s * 1000,
        polling=1000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                          ", .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    return errors.count()


def wait_kernel_idle(page, timeout_s: float = 60) -> None:
    """Wait until the current notebook's kernel has finished what the last interaction started."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=timeout_s * 1000, polling=200)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/browser/ for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
