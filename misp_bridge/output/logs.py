"""Logging for the command-line tools: a log file of their own plus short lines on stderr.

Every handler carries the redacting filter, so a registered secret or a bearer token never reaches
either output. `file_only` writes a record to the log file alone: a traceback that must not reach
stderr, or a line stderr already got in another form.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from misp_bridge.output.redact import RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PACKAGE_LOGGER = "misp_bridge"


def configure(
    log_file: Path | None,
    *,
    verbose: bool = False,
    stderr_level: int = logging.WARNING,
    stream: TextIO | None = None,
    logger_name: str = PACKAGE_LOGGER,
) -> logging.Logger:
    """Set up the package logger; returns it. A log file that cannot be opened is reported on stderr."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    redactor = RedactingFilter()

    stderr = logging.StreamHandler(sys.stderr if stream is None else stream)
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


def log_files() -> list[Path]:
    """The files the package logger writes to (for "see the log file" messages)."""
    return [
        Path(handler.baseFilename)
        for handler in logging.getLogger(PACKAGE_LOGGER).handlers
        if isinstance(handler, logging.FileHandler)
    ]


def file_only(
    logger: logging.Logger, text: str, exc: BaseException | None = None, level: int = logging.ERROR
) -> None:
    """A record for the log file alone (a traceback, or a text already printed on stderr)."""
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logger.makeRecord(logger.name, level, __file__, 0, "%s", (text,), info)
    for handler in logging.getLogger(PACKAGE_LOGGER).handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
