"""Realtime: the Redis fan-out (hub), the core every face uses (core), the faces."""
