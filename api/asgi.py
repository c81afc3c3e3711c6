"""ASGI entry point: `uvicorn api.asgi:app --no-proxy-headers` (the app decides the client IP:
api/client_ip.py)."""

from api.app import create_app

app = create_app()
