"""A live show: state machine, lineup, and (later) the real-time room. Never imports `cart` or `server`."""
