"""Named points where a test can make the process kill itself (the crash-and-resume tests).

A leaf module: the runner, the store, run folders and the leaderboard all pass such points.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_ENV", "kill_point"]

KILL_ENV = "XDBENCH_TEST_KILL_AT"
"""Test hook: ``XDBENCH_TEST_KILL_AT=<point>[:<n>]`` makes the process SIGKILL itself the
``n``-th time (default 1st) it passes the named point. Used by the crash tests only;
unset, it costs one dict lookup. The points:

- ``fit``: a model has just been trained (its weights not yet saved);
- ``checkpoint``: a fine-tuning has just written a training checkpoint
  (:mod:`bench.baselines.lm_checkpoint`);
- ``mid-batch``: a batch has been scored but not committed;
- ``batch``: a batch has just been committed (between batches);
- ``export``: the run folder's records are written, its tables not yet (and again just
  before the leaderboard merge);
- ``leaderboard``: inside the leaderboard merge, after every run's rows are written and
  before the latest view is.
"""

_kill_counts: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process if :data:`KILL_ENV` names ``name`` (see there); a test hook."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _kill_counts[name] = _kill_counts.get(name, 0) + 1
    if _kill_counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
