"""The fault suite's own RabbitMQ node, and the table of faults printed at the end of the run."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

# The harness's asserts explain themselves like the tests' own (it is imported, not collected).
pytest.register_assert_rewrite("tests.fault.harness")

from tests.fault.harness import TABLE, format_table  # noqa: E402 (after the rewrite hook)
from tests.fault.node import FaultNode, installed  # noqa: E402


@pytest.fixture(scope="session")
def fault_node():
    """``fqfault-<random>@localhost`` on free ports, its data in a temporary directory; stopped (killed if it
    will not stop) and removed at the end, whatever the tests did. The machine's broker is never
    touched."""
    if installed() is None:
        pytest.skip("rabbitmq-server is not installed (Debian/Ubuntu: apt-get install rabbitmq-server): "
                    "the fault suite runs a RabbitMQ node of its own")
    base = Path(tempfile.mkdtemp(prefix="fqfault-"))
    node = FaultNode(base / "node")
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if TABLE:
        terminalreporter.write_sep("=", "faults")
        terminalreporter.write_line(format_table(TABLE))
