"""Logging for the command-line tools: a log file of their own plus short lines on stderr.

Every handler carries the redacting filter, so a registered secret or a bearer token never reaches
either output.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from misp_bridge.output.redact import RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(
    log_file: Path | None,
    *,
    verbose: bool = False,
    stderr_level: int = logging.WARNING,
    logger_name: str = "misp_bridge",
) -> logging.Logger:
    """Set up the package logger; returns it. A log file that cannot be opened is reported on stderr."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    redactor = RedactingFilter()

    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else stderr_level)
    stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    stderr.addFilter(redactor)
    logger.addHandler(stderr)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            logger.warning(
                "cannot write the log file %s (%s); logging to stderr only", log_file, exc.strerror
            )
        else:
            file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
            file_handler.addFilter(redactor)
            logger.addHandler(file_handler)
    return logger
