"""Scan backends: the front end `linear_scan`, the registry and the default backend's context."""

from ._api import linear_scan as linear_scan
from ._associative import Associative as Associative
from ._auto import Auto as Auto, ScanBackendFallbackWarning as ScanBackendFallbackWarning
from ._base import (
    AbstractScanBackend as AbstractScanBackend,
    UnsupportedScanError as UnsupportedScanError,
    accumulation_dtype as accumulation_dtype,
)
from ._chunked import Chunked as Chunked
from ._layer import AbstractScanLayer as AbstractScanLayer, set_backend as set_backend
from ._loop import AbstractLoopBackend as AbstractLoopBackend
from ._pallas_gpu import PallasGPU as PallasGPU
from ._pallas_tpu import PallasTPU as PallasTPU
from ._registry import (
    ENVIRONMENT_VARIABLE as ENVIRONMENT_VARIABLE,
    current as current,
    get as get,
    register as register,
    registered as registered,
    use as use,
)
from ._sequence_parallel import sequence_parallel_scan as sequence_parallel_scan
from ._sequential import Sequential as Sequential
from ._trust import support_matrix as support_matrix
from ._verify import Verification as Verification, verify as verify
