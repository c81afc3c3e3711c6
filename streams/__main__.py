"""`python -m streams worker`: start the stream worker (Faust handles SIGINT/SIGTERM)."""

import sys

import uvloop

from infra.settings import get_settings


def main() -> None:
    settings = get_settings()
    if settings.kafka_flavor == "tansu":
        from streams import compat

        compat.apply()
    uvloop.install()
    from streams.app import create_app

    app = create_app(settings)
    argv = sys.argv[1:] or ["worker"]
    if argv[0] == "worker" and "--without-web" not in argv:
        argv.append("--without-web")  # health and metrics are served by the API
    sys.argv = [sys.argv[0], *argv]
    app.main()


if __name__ == "__main__":
    main()
