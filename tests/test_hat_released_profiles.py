"""`hat profile` on each of HAT's 44 released SubTransformer YAMLs gives #Params and FLOPs exactly
as HAT's README table lists them (tests/fixtures/hat_configs: the YAMLs and readme_table.json,
both from HAT's repository at commit 70e5a279)."""

import json
from pathlib import Path

import pytest

from hat.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "hat_configs"
TABLE = json.loads((FIXTURES / "readme_table.json").read_text())["models"]


def test_every_released_subtransformer_has_its_yaml():
    assert len(TABLE) == 44
    assert sorted(TABLE) == sorted(p.stem for p in FIXTURES.glob("HAT_*.yml"))


@pytest.mark.parametrize("name", sorted(TABLE))
def test_profile_matches_hats_readme(name, capsys):
    task = name.split("_")[1]
    assert main(["profile", str(FIXTURES / f"{name}.yml"), "--task", task]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (round(report["params"] / 1e6, 2), round(report["flops"] / 1e9, 2)) == (
        TABLE[name]["params_m"],
        TABLE[name]["flops_g"],
    )
