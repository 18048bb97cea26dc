"""keep_freed_memory: a freed block is reused without the kernel faulting it in again."""

import platform
import subprocess
import sys

import pytest

# In a fresh process: malloc's settings are the process's, and a test must see the default.
SCRIPT = """
import ctypes, os, resource
from hawkzoo.training import keep_freed_memory

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
SIZE = 256 << 20

def pages_faulted_to_fill_a_block():  # as a fraction of the block's pages
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(SIZE)
    ctypes.memset(block, 1, SIZE)
    libc.free(block)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return faults * resource.getpagesize() / SIZE

pages_faulted_to_fill_a_block()
default = pages_faulted_to_fill_a_block()
applied = keep_freed_memory()
pages_faulted_to_fill_a_block()
kept = pages_faulted_to_fill_a_block()
os.environ["MALLOC_TRIM_THRESHOLD_"] = "0"
print(default, applied, kept, keep_freed_memory())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_block_is_refilled_without_page_faults_unless_the_environment_says():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    default, applied, kept, overridden = out.stdout.split()
    assert float(default) > 0.9  # glibc's default maps and unmaps a block this large
    assert applied == "True" and float(kept) < 0.05
    assert overridden == "False"  # the environment's own thresholds are left alone
