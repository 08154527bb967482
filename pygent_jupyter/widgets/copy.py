"""`CopyButton`: a button that copies its ``text`` to the browser's clipboard.

The kernel cannot reach the user's clipboard, so this is a tiny anywidget whose front end
does the copying (``navigator.clipboard``, with a hidden-textarea fallback for pages that
are not a secure context). Its script is inline: it works offline and in reopened notebooks.
"""

from __future__ import annotations

import anywidget
import traitlets

__all__ = ["CopyButton"]

_ESM = """
function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } finally { area.remove(); }
  return Promise.resolve();
}
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button pygent-code-copy";
  button.type = "button";
  button.title = "Copy the code";
  button.textContent = "Copy";
  button.addEventListener("click", () => {
    copyText(model.get("text")).then(
      () => {
        button.textContent = "Copied";
        model.set("copies", model.get("copies") + 1);
        model.save_changes();
      },
      () => { button.textContent = "Copy failed"; }
    ).finally(() => setTimeout(() => { button.textContent = "Copy"; }, 1500));
  });
  el.appendChild(button);
}
export default { render };
"""


class CopyButton(anywidget.AnyWidget):
    """Copies ``text`` to the clipboard when clicked; ``copies`` counts successful copies."""

    _esm = _ESM
    text = traitlets.Unicode("").tag(sync=True)
    copies = traitlets.Int(0).tag(sync=True)
