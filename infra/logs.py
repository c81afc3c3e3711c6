"""JSON logs on stderr, one object per line, for the API, the workers and the jobs."""

from __future__ import annotations

import logging
import logging.config
import re

# Old websocket clients still put their access token in the URL (`/ws?token=…`); uvicorn logs the
# URL of every websocket handshake. No line leaves the process with a token in it.
_SECRET_PARAM = re.compile(r"((?:access_|refresh_)?token=)[^&\s\"']+", re.IGNORECASE)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "token=" in text.lower():
            record.msg, record.args = _SECRET_PARAM.sub(r"\1[redacted]", text), None
        return True


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
        "filters": {"redact": {"()": RedactTokens}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "filters": ["redact"],
            }
        },
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
