"""structlog configured once: context variables first, ISO UTC time, JSON off a TTY.

Never log payloads, tokens, keys or personal data; log ids and fingerprints.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_logging(level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib loggers (uvicorn, aiokafka, SQLAlchemy) through one renderer.

    Args:
        level: the root level.
        json: JSON lines (default when ``stream`` is not a terminal) or the console renderer.
        stream: where log lines go (default stderr).
    """
    out = stream or sys.stderr
    use_json = (not out.isatty()) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        # Plain tracebacks: the rich formatter prints every frame's locals, tokens included.
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries stay at WARNING unless asked otherwise. httpx and httpcore log every URL at
    # INFO/DEBUG, and hub paths can hold a subject token (``/network/{subject_token}``).
    for name in ("aiokafka", "kafka", "sqlalchemy.engine", "alembic", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to ``name``."""
    return structlog.stdlib.get_logger(name)
