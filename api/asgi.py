"""ASGI entry point: `uvicorn api.asgi:app --no-proxy-headers` (the app decides the client IP:
api/client_ip.py): Socket.IO at /socket.io/ (api/realtime/sio.py), the Quart app for everything else."""

from api.app import create_app
from api.realtime.sio import compose

quart_app = create_app()
app = compose(quart_app)
