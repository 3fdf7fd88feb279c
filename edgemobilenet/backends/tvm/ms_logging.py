"""MetaSchedule's loggers, tamed for library use (shared by the Cortex-A and Cortex-M tuners)."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

MS_LOGGER = "tvm.s_tir.meta_schedule"


@contextlib.contextmanager
def quiet_metaschedule() -> Iterator[None]:
    """Errors only on the console while tuning (MetaSchedule's log files keep the rest).

    MetaSchedule rebuilds its logging config from the names of the handlers already on its
    logger; an unnamed handler (left by an earlier run in this process) breaks that, so
    those are set aside for the duration.
    """
    logger = logging.getLogger(MS_LOGGER)
    level, handlers = logger.level, list(logger.handlers)
    for h in handlers:
        if h.get_name() is None:
            logger.removeHandler(h)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for h in handlers:
            if h not in logger.handlers and h.get_name() is None:
                logger.addHandler(h)
