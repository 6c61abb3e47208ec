"""reuse_freed_memory: freed per-borrower arrays are reused, not faulted in again."""

import json
import os
import subprocess
import sys

import pytest

from model.allocator import WORKER_ENVIRONMENT

CHURN = """
import json, resource, sys, threading
import numpy as np
if sys.argv[1] == "reuse":
    from model import reuse_freed_memory
    assert reuse_freed_memory()
faults = []

def churn():
    x = np.ones(10_000_000)  # 80 MB, a per-borrower array at ten million borrowers
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        y = x * 2.0  # a temporary, freed at the next assignment
        del y
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

if sys.argv[2] == "thread":  # as in a Dask worker
    worker = threading.Thread(target=churn)
    worker.start()
    worker.join()
else:
    churn()
print(json.dumps(faults[0]))
"""


def _page_faults(mode: str, where: str = "main", env: dict[str, str] | None = None) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode, where],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout
    return json.loads(out)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc setting")


@linux_only
def test_temporaries_are_reused_instead_of_faulted_in():
    default, reused = _page_faults("default"), _page_faults("reuse")
    assert default > 20 * 500  # each 80 MB temporary is faulted in afresh
    assert reused < default / 10


@linux_only
def test_a_worker_thread_reuses_memory_with_the_worker_environment():
    alone = _page_faults("reuse", "thread")
    shared = _page_faults("reuse", "thread", WORKER_ENVIRONMENT)
    assert alone > 20 * 500  # a thread's own pool cannot hold 80 MB blocks
    assert shared < alone / 10


def test_reports_whether_it_applied():
    from model import release_freed_memory, reuse_freed_memory

    assert reuse_freed_memory() is sys.platform.startswith("linux")
    assert release_freed_memory() in (True, False)
