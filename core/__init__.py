"""Shared kernel: what every feature package may use (database base, errors, money, web).

Nothing here imports `server`, `live` or `cart`.
"""
