"""JSON logs on stderr, one object per line, for the API, the workers and the jobs."""

from __future__ import annotations

import logging.config


def dict_config(level: str = "INFO", service: str = "daira") -> dict:
    # aiokafka logs every failed reconnect at ERROR; broker state is reported by /health/ready.
    quiet = "DEBUG" if level.upper() == "DEBUG" else "CRITICAL"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
                "static_fields": {"service": service},
            }
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "aiokafka": {"level": quiet},
            # uvicorn configured its own plain-text handlers before the app loaded
            **{
                name: {"handlers": ["stderr"], "propagate": False}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
        },
    }


def setup(level: str = "INFO", service: str = "daira") -> None:
    logging.config.dictConfig(dict_config(level, service))
