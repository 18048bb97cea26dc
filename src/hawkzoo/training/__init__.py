"""Training: the config, the optimiser, one step, evaluation, and whole runs."""

from ._checkpoint import RunCheckpoints as RunCheckpoints, RunState as RunState
from ._config import NO_DECAY as NO_DECAY, TrainConfig as TrainConfig
from ._evaluation import (
    accuracy as accuracy,
    bits_per_byte as bits_per_byte,
    held_out_rows as held_out_rows,
    loss_by_position as loss_by_position,
)
from ._memory import keep_freed_memory as keep_freed_memory
from ._optimizer import (
    decay_mask as decay_mask,
    learning_rate_schedule as learning_rate_schedule,
    optimizer as optimizer,
)
from ._run import RunResult as RunResult, saved_config as saved_config, train as train
from ._step import evaluate as evaluate, token_losses as token_losses, train_step as train_step
from ._trackers import (
    TRACKERS as TRACKERS,
    Callback as Callback,
    TensorBoard as TensorBoard,
    Tracker as Tracker,
    WandB as WandB,
)
