"""reuse_freed_memory: freed per-borrower arrays are reused, not faulted in again."""

import json
import subprocess
import sys

import pytest

CHURN = """
import json, resource, sys
import numpy as np
if sys.argv[1] == "reuse":
    from model import reuse_freed_memory
    assert reuse_freed_memory()
x = np.ones(10_000_000)  # 80 MB, a per-borrower array at ten million borrowers
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    y = x * 2.0  # a temporary, freed at the next assignment
    del y
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps(after - before))
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHURN, mode], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc setting")
def test_temporaries_are_reused_instead_of_faulted_in():
    default, reused = _page_faults("default"), _page_faults("reuse")
    assert default > 20 * 500  # each 80 MB temporary is faulted in afresh
    assert reused < default / 10


def test_reports_whether_it_applied():
    from model import reuse_freed_memory

    assert reuse_freed_memory() is sys.platform.startswith("linux")
