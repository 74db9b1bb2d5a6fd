"""A live show: state machine, lineup, and the real-time room.

Never imports `cart` or `server`.
"""
