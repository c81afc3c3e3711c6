"""Accounts: users, sessions, passkeys, phone verification, roles, badges and profiles."""
