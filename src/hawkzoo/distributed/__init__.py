"""Several processes as one program: joining them through `jax.distributed`, and a
launcher that runs them on one machine."""

from ._launch import launch as launch
from ._runtime import (
    Block as Block,
    barrier as barrier,
    fetched as fetched,
    from_process_blocks as from_process_blocks,
    gathered as gathered,
    initialize as initialize,
    is_main_process as is_main_process,
    launched as launched,
    leave_now as leave_now,
    placed as placed,
    process_block as process_block,
    shared_token as shared_token,
)
