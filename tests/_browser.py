# ruff: noqa: E501  (the JavaScript below keeps its long lines)
"""Helpers shared by the browser tests: Chromium and ``jupyter lab`` launching, WCAG contrast
from rendered colours, screenshots."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("PYGENT_CHROMIUM", "/usr/bin/chromium")
"""Debian's chromium (``apt-get install -y chromium``); ``PYGENT_CHROMIUM`` overrides it."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser from a started Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until ``url`` answers 200 (``proc`` must stay alive); the log tail on failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"jupyter lab did not answer in {timeout}s:\n{log.read_text()[-4000:]}")


def lab_config(
    *,
    port: int,
    root_dir: Path,
    ext_dir: Path,
    token: str,
    db_path: Path,
    services: list[str],
    base_url: str = "/",
) -> dict[str, Any]:
    """``jupyter_server_config.json`` for a test ``jupyter lab`` with the built extension (in
    ``ext_dir``) and the pygent ``services``; callers add their services' sections."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"pygent_jupyter": True},
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "root_dir": str(root_dir),
            "allow_root": True,
            "base_url": base_url,
        },
        "IdentityProvider": {"token": token},
        "LabApp": {"extra_labextensions_path": [str(ext_dir)], "expose_app_in_browser": True},
        "PygentJupyter": {"db_path": str(db_path), "services": services},
    }


def start_lab(tmp: Path, config_dir: Path, root_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``jupyter lab`` with the config in ``config_dir`` (settings and workspaces under
    ``tmp``), its output appended to ``log``."""
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser"],
            cwd=root_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (kill it after 20 s)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def element_screenshot(locator: Any, path: Path) -> None:
    """Scroll ``locator``'s element into view and screenshot its box.

    Measured and scrolled in one script, then taken as a clip of the page: a live widget
    replaces its inner nodes as it redraws, so an element handle held across the scroll, the
    stability wait and the capture (what ``locator.screenshot`` does) can be detached midway.
    """
    page = locator.page
    box = locator.evaluate(
        "el => { el.scrollIntoView({block: 'nearest'}); const r = el.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height,"
        " vw: window.innerWidth, vh: window.innerHeight}; }"
    )
    page.wait_for_timeout(300)  # let the scroll paint
    x, y = max(0.0, box["x"]), max(0.0, box["y"])
    width = min(box["x"] + box["width"], box["vw"]) - x
    height = min(box["y"] + box["height"], box["vh"]) - y
    page.screenshot(
        path=str(path), clip={"x": x, "y": y, "width": max(width, 1), "height": max(height, 1)}
    )


SCREENS_COPY = Path("/tmp/team/screens")
"""Screenshots are also copied here (when the folder exists) for people to look at."""

# Every visible text of the elements under `root`: its colour (CSS `color`, or `fill` for SVG
# text) against the background actually behind it (semi-transparent layers composited from the
# page down), as a WCAG 2 contrast ratio. Disabled controls are exempt (WCAG 1.4.3).
CONTRAST_JS = r"""
(rootSelector) => {
  const parse = c => {
    const m = c && c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = el => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let bg = [255, 255, 255, 1];
    for (const e of chain) {
      if (e instanceof SVGElement && !(e instanceof SVGSVGElement)) continue;
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) bg = over(c, bg);
    }
    return bg;
  };
  const out = [];
  for (const root of document.querySelectorAll(rootSelector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      const el = t.parentElement;
      if (!el || seen.has(el) || !t.textContent.trim()) continue;
      seen.add(el);
      if (el.closest('.pygent-snapshot, [hidden], style, script, .hoverlayer, .modebar')) continue;
      if (el.closest('button:disabled, select:disabled, input:disabled, textarea:disabled, .mod-disabled')) continue;
      const rect = el.getBoundingClientRect();
      if (!rect.width || !rect.height) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || cs.display === 'none') continue;
      let opacity = 1;
      for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity || 1);
      if (opacity < 0.1) continue;
      const fgRaw = parse(el instanceof SVGElement ? cs.fill : cs.color);
      if (!fgRaw) continue;
      const bg = background(el);
      const fg = over([fgRaw[0], fgRaw[1], fgRaw[2], fgRaw[3] * opacity], bg);
      out.push({text: t.textContent.trim().slice(0, 40), ratio: ratio(fg, bg),
                fg: fg.slice(0, 3).map(Math.round).join(','), bg: bg.slice(0, 3).map(Math.round).join(','),
                cls: (el.getAttribute('class') || el.tagName).toString().slice(0, 60)});
    }
  }
  return out;
}
"""


def low_contrast(page: Any, root_selector: str, minimum: float = 4.5) -> list[dict[str, Any]]:
    """The texts under ``root_selector`` whose contrast is below ``minimum`` (and how many
    texts were measured, as the last item's ``measured``)."""
    items = page.evaluate(CONTRAST_JS, root_selector)
    assert items, f"no text measured under {root_selector}"
    return [i for i in items if i["ratio"] < minimum]


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to the team folder (if there is one) as well."""
    if SCREENS_COPY.is_dir():
        shutil.copy(path, SCREENS_COPY / path.name)


def set_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab's theme (``JupyterLab Light`` / ``JupyterLab Dark``) and wait for it."""
    light = "true" if "Light" in theme else "false"
    page.evaluate(
        f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})"
    )
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'", timeout=30_000)
    page.wait_for_timeout(800)  # the theme's stylesheet applies
