"""Suite-wide fixtures.

`demo_task`: the built-in demo task (hat/configs/demo/task.yml), loaded once for the suite.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_task():
    from hat.tasks import load_task

    return load_task("demo")
