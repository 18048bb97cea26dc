"""Array annotations shared across hawkzoo (jaxtyping; checked in the tests)."""

from jaxtyping import Array, Inexact

# A time-major array: `seq` steps of any channel shape.
TimeMajor = Inexact[Array, "seq *channels"]
# One step's state, or an initial state: the channel shape alone.
State = Inexact[Array, "*channels"]
