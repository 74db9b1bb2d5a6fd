"""Shared kernel: the pieces every feature package may use (database base, errors, money, web helpers).

Nothing here imports `server`, `live` or `cart`.
"""
