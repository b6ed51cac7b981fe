"""Measuring, predicting and searching need torch only (docs/architecture.md): with fairseq made
unimportable, every module of those packages imports and a search runs end to end (its fitness
injected, as `hat search` injects the inherited loss)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_search_cli import make_predictor

REPO = Path(__file__).resolve().parents[1]
TORCH_ONLY = ("hat.space", "hat.supernet", "hat.export", "hat.profile", "hat.latency", "hat.predictor", "hat.search")

# Prepended to each child's code: any import of fairseq (or its CLI package) raises.
NO_FAIRSEQ = """
import sys

class NoFairseq:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fairseq", "fairseq_cli"):
            raise ImportError(f"fairseq is blocked here ({name})")
        return None

sys.meta_path.insert(0, NoFairseq())
"""


def run_without_fairseq(code: str) -> subprocess.CompletedProcess:
    tests = str(REPO / "tests")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), tests])}
    return subprocess.run([sys.executable, "-c", NO_FAIRSEQ + code], cwd=tests, capture_output=True, text=True, env=env)


IMPORT_ALL = """
import importlib, pkgutil
for name in {names!r}:
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=name + "."):
        importlib.import_module(info.name)
print("ok", sorted(m for m in sys.modules if m.startswith("hat.")))
"""


def test_torch_only_packages_import_without_fairseq():
    child = run_without_fairseq(IMPORT_ALL.format(names=TORCH_ONLY))
    assert child.returncode == 0, child.stderr[-3000:]
    imported = child.stdout.split("ok", 1)[1]
    for module in ("hat.search.run", "hat.search.workers", "hat.latency.measure", "hat.predictor.run"):
        assert f"'{module}'" in imported


def test_the_blocker_blocks():
    """The check above could not fail if the blocker let fairseq through: the plugin must not import."""
    child = run_without_fairseq("import hat.fairseq_plugin")
    assert child.returncode != 0 and "fairseq is blocked here" in child.stderr


SEARCH = """
from pathlib import Path
from hat.search.evolution import SearchSettings
from hat.search.report import SearchOutputs
from hat.search.run import SearchRequest, run_search
from hat.tasks import load_task
from test_search import synthetic_loss

def synthetic_fitness(task, supernet, data, /, *, device, max_batches):
    return synthetic_loss

out = Path({out!r})
request = SearchRequest(
    task=load_task("demo"), supernet=Path({supernet!r}), data=Path("unused"), predictor=Path({predictor!r}),
    budget_ms=None, budget_pct=50.0, outputs=SearchOutputs.next_to(out),
    settings=SearchSettings.for_population(10, iterations=2, seed=3),
)
run_search(request, synthetic_fitness, progress=False)
"""


def test_a_search_runs_without_fairseq(tmp_path):
    make_predictor(tmp_path / "cpu.pt", "demo")
    (tmp_path / "supernet.pt").write_bytes(b"weights")
    out = tmp_path / "run" / "subtransformer.yml"
    code = SEARCH.format(out=str(out), supernet=str(tmp_path / "supernet.pt"), predictor=str(tmp_path / "cpu.pt"))
    child = run_without_fairseq(code)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(out.with_suffix(".json").read_text())["generations"] == 2
    assert out.is_file()
