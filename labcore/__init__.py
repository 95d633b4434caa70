"""The shared core of the lab: networks, optimisers, configs and the run object.

A toolbox, not a framework: `rllab` and `genlab` call these functions and keep
their own training loops in plain sight.
"""

from labcore.errors import UsageError

__all__ = ["UsageError"]
