"""Process logging: the standard library's, with pipecat's loguru output kept quiet unless debugging."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str) -> None:
    from loguru import logger as loguru_logger

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pipecat logs through loguru, verbosely (transcripts included) at DEBUG.
    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level="DEBUG" if level.upper() == "DEBUG" else "WARNING")
