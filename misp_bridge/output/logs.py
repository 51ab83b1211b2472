"""Logging for the command-line tools: a log file of their own plus short lines on stderr.

Every handler carries the redacting filter (misp_bridge/output/redact.py): a registered secret, a bearer
token or a URL password never reaches either output, and control characters are escaped, so one record
is one line. The log file is created 0600 and never through a symlink (misp_bridge/output/files.py).
PyMISP's own records (it logs whole request bodies on a 5xx) and Python warnings (urllib3's
InsecureRequestWarning, a library's DeprecationWarning: `warnings` would print them on stderr) go
to the log file only, masked and cut short: stderr keeps the tools' own one-line messages.
`file_only` writes a record to the log file alone: a traceback that must not reach stderr, or a line
stderr already got in another form. `configure_host` is for a host that collects the root logger's
records itself (the Azure Functions worker sends them to Application Insights): the package's records
reach it masked, one line each, and no file is written.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from misp_bridge.output.files import open_text
from misp_bridge.output.redact import RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PACKAGE_LOGGER = "misp_bridge"
# Libraries whose records reach the log file only (never stderr), cut to LIBRARY_RECORD_MAX characters.
LIBRARY_LOGGERS = ("pymisp", "py.warnings")
LIBRARY_RECORD_MAX = 2000


class PrivateFileHandler(logging.FileHandler):
    """A FileHandler whose file is created 0600 and never opened through a symlink."""

    def _open(self) -> TextIO:  # type: ignore[override]
        return open_text(Path(self.baseFilename), "a")  # type: ignore[return-value]


class _Truncating(logging.Filter):
    """Cuts a library's record (after redaction) so one request body cannot flood the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if len(text) > LIBRARY_RECORD_MAX:
            record.msg = f"{text[:LIBRARY_RECORD_MAX]}... ({len(text) - LIBRARY_RECORD_MAX} more characters)"
            record.args = None
        return True


def _route_libraries(target: logging.Handler | None) -> None:
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            library.removeHandler(handler)
        library.propagate = False
        library.setLevel(logging.WARNING)
        library.filters = [_Truncating()]
        library.addHandler(target if target is not None else logging.NullHandler())


def configure(
    log_file: Path | None,
    *,
    verbose: bool = False,
    stderr_level: int = logging.WARNING,
    stream: TextIO | None = None,
    logger_name: str = PACKAGE_LOGGER,
    fallback: Path | None = None,
    libraries_on_stderr: bool = False,
) -> logging.Logger:
    """Set up the package logger; returns it. A log file that cannot be opened is replaced by
    `fallback` (when given and usable), else reported on stderr. Libraries' records go to the log file
    only, or (`libraries_on_stderr`, for a tool without a log file asked to be verbose) to stderr."""
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

    file_handler: logging.Handler | None = None
    if log_file is not None:
        try:
            file_handler = _open_log(log_file)
        except OSError as exc:
            try:
                file_handler = _open_log(fallback) if fallback is not None else None
            except OSError:
                file_handler = None
            if file_handler is None:
                logger.warning(
                    "cannot write the log file %s (%s); logging to stderr only", log_file, exc.strerror or exc
                )
        if file_handler is not None:
            file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
            file_handler.addFilter(redactor)
            logger.addHandler(file_handler)
    _route_libraries(file_handler if file_handler is not None or not libraries_on_stderr else stderr)
    logging.captureWarnings(True)
    return logger


class _ToRoot(logging.Handler):
    """Hands each record, once masked by this handler's filter, to the root logger's handlers."""

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def configure_host(*, verbose: bool = False, logger_name: str = PACKAGE_LOGGER) -> logging.Logger:
    """Logging inside a host that collects the root logger's records (see the module docstring)."""
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False  # every record goes through the masking handler, never around it
    forward = _ToRoot()
    forward.addFilter(RedactingFilter())
    logger.addHandler(forward)
    _route_libraries(forward)
    return logger


def _open_log(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    return PrivateFileHandler(path, encoding="utf-8")


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
