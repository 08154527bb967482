# ruff: noqa: E501  (the JavaScript below keeps its long lines)
"""Helpers shared by the browser tests: WCAG contrast from rendered colours, screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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
