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
    logger and fails on an unnamed one (`'NoneType' object has no attribute 'format'`).
    Under pytest, its log-capture handlers (`LogCaptureHandler`, unnamed) are on that
    logger from the second tuning run in a process on; they are set aside for the
    duration. The console level matters too: MetaSchedule's console handler writes to
    stdout, where `--json` output goes.
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
