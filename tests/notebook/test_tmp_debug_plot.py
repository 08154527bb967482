import json, time
import pytest
from .test_widgets_browser import page, _open, _api, SHOTS  # noqa
from .conftest import LabServer

CELLS = [
 "from pygent_jupyter.widgets import EvolutionWidget, MetricsDashboard\nimport time\nevo = EvolutionWidget()\nevo",
 "for g in range(5):\n    evo.feed({'type': 'evolution_progress', 'data': {'run_id': 'e', 'phase': 'generation', 'generation': g, 'best': g, 'mean': g/2, 'worst': 0}})\nevo.flush()",
 "m = MetricsDashboard(window=60)\nm",
 "for i in range(5):\n    m.feed({'type':'system_metrics','seq':i+1,'data':{'sampled_at':time.time()+i,'cpu_percent':10.0*i,'memory':{'percent':5}}})\nm.flush()",
]

def test_dbg(page, lab_server: LabServer):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [], "execution_count": None} for c in CELLS],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (lab_server.root / "ux_widgets.ipynb").write_text(json.dumps(nb))
    page.set_default_timeout(60_000)
    _open(page, lab_server)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=180_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_timeout(3000)
    page.locator('.jp-Cell').nth(3).locator('.jp-InputArea-prompt', has_text='[4]').wait_for(timeout=240_000)
    page.wait_for_timeout(3000)
    for i in range(4):
        c = page.locator(".jp-Cell").nth(i)
        c.evaluate("el => el.scrollIntoView()")
        page.wait_for_timeout(1500)
        c.screenshot(path=str(SHOTS / f"dbg-{i}.png"))
        print(i, c.evaluate("el => [el.querySelectorAll('.jp-pygent-live').length, el.querySelectorAll('.js-plotly-plot').length, el.querySelectorAll('.jp-pygent-widget-fallback').length, el.querySelectorAll('.jp-OutputArea-output').length]"))
