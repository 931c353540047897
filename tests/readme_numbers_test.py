"""The README's measured numbers come from docs/measured.json through docs/update_readme.py."""

import importlib.util
import json
import os

import pytest

from tests.conftest import REPO_ROOT


def _script():
    spec = importlib.util.spec_from_file_location(
        "update_readme", os.path.join(REPO_ROOT, "docs", "update_readme.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_numbers_are_the_rendered_measurements():
    script = _script()
    with open(script.MEASURED) as stream:
        measured = json.load(stream)
    with open(script.README, encoding="utf-8") as stream:
        readme = stream.read()
    assert "quickstart" in measured
    assert script.apply_blocks(readme, script.render(measured)) == readme, (
        "README.md is out of date: run python docs/update_readme.py"
    )
    assert os.path.isfile(script.PICTURE)


def test_render_and_apply_blocks():
    script = _script()
    scores = {"success_auc": 0.61234, "precision": 0.8, "norm_precision": 0.75}
    measured = {
        "quickstart": {"seconds": 484.4, "machine": "2 cores (X)",
                       "report": {name: scores for name in script.TRACKERS}},
        "tests": {"seconds": 61, "machine": "2 cores (X)", "summary": "3 passed"},
        "zoo": {"seconds": 3000, "machine": "2 cores (X)", "runs": 6, "variants": 2, "seeds": 3,
                "train_steps": 450, "sequences": 30, "table": "| variant |"},
        "zoo_small": {"seconds": 441.5, "machine": "2 cores (X)"},
    }  # fmt: skip
    blocks = script.render(measured)
    assert blocks["quickstart-time"] == (
        "8 min 4 s, the median of 1 fresh-clone run (8 min 4 s) on 2 cores (X), install excluded"
    )
    measured["quickstart"].update(runs=[470.0, 498.8], pairs_per_s=[19.5, 18.25])
    assert script.render(measured)["quickstart-time"] == (
        "8 min 4 s, the median of 2 fresh-clone runs (7 min 50 s, 8 min 19 s; training at "
        "18.25-19.5 pairs/s) on 2 cores (X), install excluded"
    )
    assert "| trained | 0.612 | 0.800 | 0.750 |" in blocks["quickstart-table"]
    assert blocks["zoo-time"] == (
        "50 min 0 s on 2 cores (X) (6 runs: 2 variants x 3 seeds, 450 steps each, "
        "30 held-out sequences)"
    )
    assert blocks["zoo-table"] == "| variant |"
    assert blocks["zoo-small-time"] == "7 min 22 s on 2 cores (X)"
    text = "a <!-- measured:tests-time -->old<!-- /measured:tests-time --> b"
    assert script.apply_blocks(text, {"tests-time": "new"}) == (
        "a <!-- measured:tests-time -->new<!-- /measured:tests-time --> b"
    )
    with pytest.raises(ValueError, match="measured:quickstart-table"):
        script.apply_blocks(text, {"quickstart-table": "x"})
