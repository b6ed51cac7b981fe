"""Suite-wide options and fixtures.

`demo_task`: the built-in demo task (hat/configs/demo/task.yml), loaded once for the suite.

`@pytest.mark.long`: an end-to-end test that needs more than ~20 minutes on this project's 2-core
VM (a 300-update training scored in three runtimes).
They run only with HAT_LONG_TESTS=1, so the README's test command stays inside CI's 90 minutes;
run them on a quiet machine before touching what they cover (docs/workflow.md).
"""

from __future__ import annotations

import os

import pytest

LONG_TESTS = os.environ.get("HAT_LONG_TESTS") == "1"


def pytest_collection_modifyitems(config, items):
    if LONG_TESTS:
        return
    skip = pytest.mark.skip(reason="long end-to-end test: set HAT_LONG_TESTS=1 to run it")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_task():
    from hat.tasks import load_task

    return load_task("demo")
