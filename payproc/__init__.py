"""A test payment processor in its own process: payment intents, test cards, a card form served
from its own origin, signed webhooks and a ledger, modelled on a processor's test mode."""
