"""Execute the quickstart notebook's code cells as a user would (no Jupyter needed: it is JSON)."""

import json
import os

import matplotlib
import pytest

from conftest import ROOT


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    notebook = json.loads((ROOT / "notebooks" / "quickstart.ipynb").read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert len(cells) >= 3
    # the notebook trains on the shipped subset wherever it runs: 62 steps per epoch, as counted below
    assert sum('"data.name=mnist_subset"' in c for c in cells) == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for source in cells:
        exec(compile(source, "quickstart.ipynb", "exec"), namespace)  # noqa: S102
    assert namespace["digits"].shape == (100, 1, 28, 28) and namespace["shipped"].scores["fid"] > 0  # first cell
    assert namespace["images"].shape == (64, 1, 28, 28)
    assert namespace["info"].step == namespace["cfg"].train.epochs * 62  # 4,000 subset digits / 64 per batch
    assert os.path.exists(tmp_path / "output" / "quickstart" / "progress.gif")
    assert namespace["walk"].shape == (10, 1, 28, 28)
    assert namespace["rows"].shape == (100, 1, 28, 28) and namespace["sevens"].shape == (16, 1, 28, 28)
    assert namespace["three_to_eight"].shape == (10, 1, 28, 28)
    assert namespace["G_digits"].num_classes == 10
