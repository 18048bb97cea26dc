"""Scaling out on JAX meshes."""

from ._sequence_scan import sequence_parallel_scan as sequence_parallel_scan
