"""The names of the mesh axes hawkzoo shards over."""

DATA = "data"
"""Rows of a batch (and, optionally, the optimiser state)."""

MODEL = "model"
"""Channels: Megatron-style tensor parallelism."""

SEQ = "seq"
"""Time: the sequence-parallel scan."""

AXES = (DATA, MODEL, SEQ)
