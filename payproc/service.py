"""The processor's operations: each runs inside one store transaction, applies a rule's `Step`,
records the charge and writes the event (the webhook outbox) in that same transaction."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from payproc import rules
from payproc.cards import Card, CardOutcome, outcome
from payproc.objects import (
    ApiIntent,
    Intent,
    Ledger,
    LedgerLine,
    NextAction,
    PublicIntent,
    Refund,
)
from payproc.rules import ActionKind, Decision, ProcessorError, Status, Step
from payproc.store import IntentRow, RefundRow, Tx

ACTION_PATHS: dict[str, str] = {
    "challenge": "/pay/{id}/challenge",
    "redirect": "/bank/{id}",
    "app": "/app/{id}",
}


KIND_METHODS: dict[str, str] = {"challenge": "card", "redirect": "bank_redirect", "app": "app"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class Config:
    public_url: str
    settle_delay: float
    refund_delay: float
    deliver_webhooks: bool


class Processor:
    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock

    # Rendering
    def _next_action(self, row: IntentRow) -> NextAction | None:
        if row.pending is None:
            return None
        path = ACTION_PATHS[row.pending].format(id=row.id)
        return {"type": row.pending, "url": self.config.public_url + path}

    def public(self, row: IntentRow) -> PublicIntent:
        return {
            "id": row.id,
            "status": row.status,
            "amount": row.amount,
            "currency": row.currency,
            "methods": list(row.methods),
            "last_error": row.last_error,
            "next_action": self._next_action(row),
        }

    async def intent_object(self, tx: Tx, row: IntentRow) -> Intent:
        captured, _ = await tx.captured(row.id)
        return {
            **self.public(row),
            "object": "intent",
            "reference": row.reference,
            "shop": row.shop,
            "return_url": row.return_url,
            "created": int(row.created),
            "pay_url": f"{self.config.public_url}/pay/{row.id}",
            "card_last4": row.card_last4,
            "amount_captured": captured,
            "amount_refunded": await tx.refunded(row.id, ("succeeded",)),
        }

    async def api_intent(self, tx: Tx, row: IntentRow) -> ApiIntent:
        return cast(
            ApiIntent, {**await self.intent_object(tx, row), "client_secret": row.client_secret}
        )

    def refund_object(self, row: RefundRow, currency: str) -> Refund:
        return {
            "id": row.id,
            "object": "refund",
            "intent": row.intent_id,
            "amount": row.amount,
            "currency": currency,
            "status": row.status,
            "failure_code": row.failure_code,
            "created": int(row.created),
        }

    # Events
    async def _event(self, tx: Tx, kind: str, intent_id: str, data: Any) -> None:
        now = self.clock()
        eid = new_id("evt")
        body = json.dumps({"id": eid, "type": kind, "created": int(now), "data": data})
        await tx.insert_event(eid, kind, intent_id, body, now, self.config.deliver_webhooks)

    async def _apply(self, tx: Tx, row: IntentRow, step: Step, method: str | None) -> None:
        now = self.clock()
        row.status = step.status
        row.last_error = step.last_error
        row.pending = step.next_action
        row.settle_at = None if step.settle_in is None else now + step.settle_in
        await tx.update_intent(row)
        if step.charge is not None and not (
            step.charge != "pending" and await tx.settle_pending_charges(row.id, step.charge)
        ):
            code = step.last_error["code"] if step.last_error else None
            await tx.insert_charge(
                new_id("ch"), row.id, row.amount, method or "card", step.charge, code, now
            )
        await self._event(tx, step.event, row.id, await self.intent_object(tx, row))

    async def _row(self, tx: Tx, intent_id: str) -> IntentRow:
        row = await tx.intent(intent_id)
        if row is None:
            raise ProcessorError(404, "intent_not_found", "No such intent.")
        return row

    async def _row_for_secret(self, tx: Tx, intent_id: str, secret: str) -> IntentRow:
        row = await tx.intent(intent_id)
        if row is None or not hmac.compare_digest(row.client_secret, secret):
            # One answer for both, so the form cannot be used to probe for intent ids.
            raise ProcessorError(404, "intent_not_found", "No such intent, or a wrong secret.")
        return row

    # Server API
    async def create(self, tx: Tx, req: rules.CreateIntent) -> ApiIntent:
        iid = new_id("pi")
        row = IntentRow(
            id=iid,
            client_secret=f"{iid}_secret_{secrets.token_urlsafe(18)}",
            status=Status.REQUIRES_PAYMENT_METHOD,
            amount=req.amount,
            currency=req.currency,
            reference=req.reference,
            shop=req.shop,
            methods=req.methods,
            return_url=req.return_url,
            created=self.clock(),
            last_error=None,
            pending=None,
            card_last4=None,
            refunds_fail=False,
            settle_at=None,
        )
        await tx.insert_intent(row)
        await self._event(tx, "intent.created", iid, await self.intent_object(tx, row))
        return await self.api_intent(tx, row)

    async def get(self, tx: Tx, intent_id: str) -> ApiIntent:
        return await self.api_intent(tx, await self._row(tx, intent_id))

    async def cancel(self, tx: Tx, intent_id: str) -> ApiIntent:
        row = await self._row(tx, intent_id)
        try:
            step = rules.cancel(row.status)
        except ProcessorError as exc:
            exc.details = {"intent": dict(await self.api_intent(tx, row))}
            raise
        if step is not None:
            await self._apply(tx, row, step, None)
        return await self.api_intent(tx, row)

    async def refund(self, tx: Tx, intent_id: Any, amount: Any) -> Refund:
        if not isinstance(intent_id, str):
            raise rules.invalid("intent must be an intent id")
        row = await self._row(tx, intent_id)
        captured, _ = await tx.captured(row.id)
        committed = await tx.refunded(row.id, ("pending", "succeeded"))
        now = self.clock()
        refund = RefundRow(
            id=new_id("re"),
            intent_id=row.id,
            amount=rules.refund_amount(row.status, captured, committed, amount),
            status="pending",
            fails=row.refunds_fail,
            failure_code=None,
            created=now,
            settle_at=now + self.config.refund_delay,
        )
        await tx.insert_refund(refund)
        answer = self.refund_object(refund, row.currency)
        await self._event(tx, "refund.created", row.id, answer)
        return answer

    async def get_refund(self, tx: Tx, refund_id: str) -> Refund:
        refund = await tx.refund(refund_id)
        if refund is None:
            raise ProcessorError(404, "refund_not_found", "No such refund.")
        return self.refund_object(refund, (await self._row(tx, refund.intent_id)).currency)

    async def ledger(self, tx: Tx) -> Ledger:
        lines: list[LedgerLine] = []
        for row in await tx.all_intents():
            captured, charges = await tx.captured(row.id)
            lines.append(
                {
                    "id": row.id,
                    "reference": row.reference,
                    "shop": row.shop,
                    "currency": row.currency,
                    "amount": row.amount,
                    "status": row.status,
                    "captured": captured,
                    "refunded": await tx.refunded(row.id, ("succeeded",)),
                    "charges": charges,
                    "refunds_pending": await tx.refunded(row.id, ("pending",)),
                }
            )
        return {"intents": lines}

    # Browser side
    async def state(self, tx: Tx, intent_id: str, secret: str) -> PublicIntent:
        return self.public(await self._row_for_secret(tx, intent_id, secret))

    async def confirm(
        self, tx: Tx, intent_id: str, secret: str, method: str, card: Card | None
    ) -> PublicIntent:
        row = await self._row_for_secret(tx, intent_id, secret)
        rules.check_confirmable(row.status, row.methods, method)
        if card is not None:
            result = outcome(card)
            row.card_last4 = card.last4
            row.refunds_fail = result == CardOutcome.REFUND_FAILS
            step = rules.confirm_card(result, self.config.settle_delay)
        else:
            row.card_last4 = None
            step = rules.confirm_other(method)
        await self._apply(tx, row, step, method)
        return self.public(row)

    async def resolve(
        self, tx: Tx, intent_id: str, kind: ActionKind, decision: Decision, secret: str | None
    ) -> PublicIntent:
        """A challenge needs the client secret (it is answered inside the card form); the bank
        and the app are pages of their own, reached by their URL, as in a test mode."""
        if secret is None:
            row = await self._row(tx, intent_id)
        else:
            row = await self._row_for_secret(tx, intent_id, secret)
        step = rules.resolve(row.status, row.pending, kind, decision)
        await self._apply(tx, row, step, KIND_METHODS[kind])
        return self.public(row)

    async def intent_page(self, tx: Tx, intent_id: str) -> IntentRow:
        return await self._row(tx, intent_id)

    # Settlement of delayed charges and refunds
    async def settle_due(self, tx: Tx) -> int:
        now = self.clock()
        done = 0
        for intent_id in await tx.intents_due(now):
            row = await self._row(tx, intent_id)
            step = rules.settle(row.status)
            if step is None:
                row.settle_at = None
                await tx.update_intent(row)
            else:
                await self._apply(tx, row, step, "card")
            done += 1
        for refund_id in await tx.refunds_due(now):
            refund = await tx.refund(refund_id)
            assert refund is not None
            refund.status = "failed" if refund.fails else "succeeded"
            refund.failure_code = "refund_declined" if refund.fails else None
            refund.settle_at = None
            await tx.update_refund(refund)
            currency = (await self._row(tx, refund.intent_id)).currency
            data = self.refund_object(refund, currency)
            await self._event(tx, f"refund.{refund.status}", refund.intent_id, data)
            done += 1
        return done
