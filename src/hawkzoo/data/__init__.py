"""Data: the built-in byte corpus, packed rows, the synthetic tasks and the baselines."""

from ._baselines import (
    gzip_bits_per_byte as gzip_bits_per_byte,
    ngram_bits_per_byte as ngram_bits_per_byte,
)
from ._corpus import (
    Corpus as Corpus,
    Document as Document,
    load_corpus as load_corpus,
    stdlib_corpus as stdlib_corpus,
    text_corpus as text_corpus,
)
from ._packing import Batch as Batch, PackedText as PackedText, pack as pack
from ._tasks import (
    TASKS as TASKS,
    AbstractTask as AbstractTask,
    InductionHeads as InductionHeads,
    MultiQueryAssociativeRecall as MultiQueryAssociativeRecall,
    Phonebook as Phonebook,
    SelectiveCopying as SelectiveCopying,
    task as task,
)
