"""Commerce: catalog, carts, inventory, checkout, orders, payments.

Never imports `live` or `server`.
"""
