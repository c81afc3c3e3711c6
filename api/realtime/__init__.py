"""Realtime: one core (core.py) behind the /ws, GraphQL-subscriptions and Socket.IO faces; hub.py fans Redis out."""
