"""The live room's use cases: join (snapshot or replay), chat, Q&A, reactions, pins and flash
deals, moderation and the show's lifecycle. Transport-free: the socket layer calls these with
the caller's `Seat` and turns answers and AppErrors into acks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import AppError, ErrorCode, not_found
from core.identity import MembershipLookup, Principal, Role
from live.room import rules
from live.room.archive import Archive
from live.room.fanout import Coalescer, Presence
from live.room.store import Outcome, Replay, RoomStore, Snapshot, dumps, now_ms
from live.shows.rules import Status
from live.shows.schemas import ShowPatch
from live.shows.service import ShowService

log = logging.getLogger(__name__)


class Products(Protocol):
    async def public_products(
        self, shop_id: int, product_ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]: ...


class DealOpener(Protocol):
    """Records a new flash deal where stock is kept (the commerce side); returns its id.
    `ends_at_ms` is when it stops taking orders (the host's end plus any delay grace)."""

    async def __call__(
        self, show_id: int, product_id: int, price: int, units: int, per_buyer: int, ends_at_ms: int
    ) -> int: ...


class DealGrace(Protocol):
    """How much longer a deal pinned now in this show keeps taking orders after its end, for
    viewers behind the host (a delay the server measured itself, capped)."""

    async def __call__(self, show_id: int) -> int: ...


async def no_grace(show_id: int) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class Limits:
    chat: tuple[int, int]  # messages per window (seconds)
    question: tuple[int, int] = rules.QUESTION_RATE
    reaction: tuple[int, int] = rules.REACTION_RATE


@dataclass(frozen=True, slots=True)
class Seat:
    """One connection's place in a show: who it is and what role it has there."""

    principal: Principal
    show_id: int
    shop_id: int
    role: Role | None

    @property
    def staff(self) -> bool:
        return rules.role_allows(self.role, rules.STAFF)

    def with_role(self, role: Role | None) -> Seat:
        return self if role == self.role else Seat(self.principal, self.show_id, self.shop_id, role)

    def user(self) -> dict[str, Any]:
        user: dict[str, Any] = {
            "subject": self.principal.subject,
            "name": self.principal.display_name,
        }
        if self.role is not None:
            user["role"] = self.role.value
        return user


RoomClosed = Callable[[int], Awaitable[None]]

# Exemptions (slow mode, rate limits) and role badges follow a role change within this many
# seconds; staff actions always read the role afresh.
ROLE_TTL = 5.0


class RoomService:
    def __init__(
        self,
        store: RoomStore,
        shows: ShowService,
        products: Products,
        role_in: MembershipLookup,
        archive: Archive,
        coalescer: Coalescer,
        presence: Presence,
        limits: Limits,
        deals: DealOpener,
        deal_grace: DealGrace = no_grace,
    ) -> None:
        self._deals = deals
        self._deal_grace = deal_grace
        self._store = store
        self._shows = shows
        self._products = products
        self._role_in = role_in
        self._archive = archive
        self._coalescer = coalescer
        self._presence = presence
        self._limits = limits
        self._on_closed: list[RoomClosed] = []
        self._roles: dict[tuple[int, int], tuple[Role | None, float]] = {}

    def on_closed(self, callback: RoomClosed) -> None:
        """Called after a show ends (the transport closes the room)."""
        self._on_closed.append(callback)

    # Joining.

    async def _open(self, show_id: int) -> tuple[int, str]:
        found = await self._store.shop_and_status(show_id)
        if found is not None:
            return found
        show = await self._shows.public(show_id)  # not_found for an unknown show
        started, ended = show["started_at"], show["ended_at"]
        return await self._store.init(
            show_id,
            show["shop_id"],
            show["status"],
            show["currency"],
            int(started.timestamp() * 1000) if started else None,
            int(ended.timestamp() * 1000) if ended else None,
            show["playback_url"],
        )

    async def seat(self, principal: Principal, show_id: int) -> Seat:
        shop_id, _ = await self._open(show_id)
        role = None
        if principal.account_id is not None:
            role = await self._role_in(shop_id, principal.account_id)
        return Seat(principal, show_id, shop_id, role)

    async def join(
        self, seat: Seat, sid: str, since: int | None, epoch: str | None = None
    ) -> dict[str, Any]:
        """The join answer: a snapshot, or the frames missed since `since` (of `epoch`)."""
        result = await self._store.join(seat.show_id, seat.principal.subject, sid, since, epoch)
        if result is None:
            raise AppError(ErrorCode.BANNED, "you were removed from this show")
        self._presence.enter(seat.show_id)
        answer: dict[str, Any] = {
            "show_id": seat.show_id,
            "server_time_ms": now_ms(),
            "epoch": result.epoch,
            "seq": result.seq,
        }
        if isinstance(result, Replay):
            answer["replay"] = result.frames
            return answer
        answer.update(stale=result.stale, snapshot=self._snapshot(seat, result))
        return answer

    def _snapshot(self, seat: Seat, snap: Snapshot) -> dict[str, Any]:
        state = snap.state
        pins = []
        for pin in snap.pins:
            if pin.get("deal") is not None:
                left = snap.units.get(str(pin["product"]["id"]), 0)
                pin = {**pin, "deal": {**pin["deal"], "units_left": left}}
            pins.append(pin)
        announcement = state.get("announcement")
        return {
            "status": state.get("status"),
            "started_at_ms": _int_or_none(state.get("started_at_ms")),
            "ended_at_ms": _int_or_none(state.get("ended_at_ms")),
            "playback_url": state.get("playback_url"),
            "stream_online": state.get("stream_online") == "1",
            "pins": pins,
            "chat": snap.chat,
            "questions": snap.questions,
            "viewers": snap.viewers,
            "peak_viewers": int(state.get("peak", 0)),
            "hearts": int(state.get("hearts", 0)),
            "announcement": None if announcement is None else json.loads(announcement),
            "slow_mode_seconds": int(state.get("slow_mode", 0)),
            "you": {
                **seat.user(),
                "timed_out_until_ms": snap.timed_out_until_ms,
            },
        }

    async def leave(self, seat: Seat, sid: str) -> None:
        self._presence.leave(seat.show_id)
        try:
            await self._store.leave(seat.show_id, seat.principal.subject, sid)
        except Exception:
            log.warning("leave not recorded", extra={"show_id": seat.show_id}, exc_info=True)

    # Viewer actions.

    def _gate_error(self, outcome: Outcome) -> AppError:
        status, values = outcome.status, outcome.values
        if status in ("closed", "ended"):
            return AppError(ErrorCode.SHOW_CLOSED, "the show has ended")
        if status == "banned":
            return AppError(ErrorCode.BANNED, "you were removed from this show")
        if status == "timed_out":
            until = int(values[0])
            return AppError(
                ErrorCode.TIMED_OUT,
                "a moderator timed you out",
                details={"until_ms": until},
                retry_after=max(1, (until - now_ms() + 999) // 1000),
            )
        if status == "blocked":
            return AppError(
                ErrorCode.BLOCKED_WORD,
                f"the word {values[0]!r} is not allowed in this show",
                field="text",
            )
        if status == "rate":
            return AppError(
                ErrorCode.RATE_LIMITED, "you are sending too fast", retry_after=int(values[0])
            )
        if status == "slow":
            return AppError(
                ErrorCode.SLOW_MODE, "slow mode is on; wait a moment", retry_after=int(values[0])
            )
        return AppError(ErrorCode.INTERNAL_ERROR, "internal error")

    async def _current(self, seat: Seat) -> Seat:
        """The seat with its role as of at most ROLE_TTL seconds ago (exemptions and badges)."""
        account = seat.principal.account_id
        if account is None:
            return seat
        key = (seat.shop_id, account)
        cached = self._roles.get(key)
        now = time.monotonic()
        if cached is None or cached[1] < now:
            if len(self._roles) > 10_000:
                self._roles.clear()
            cached = (await self._role_in(seat.shop_id, account), now + ROLE_TTL)
            self._roles[key] = cached
        return seat.with_role(cached[0])

    def _backlog_check(self, show_id: int) -> None:
        # An acknowledged message must reach the room: while its frames cannot be published
        # and the backlog is full, new messages are refused instead of dropped later.
        if not self._coalescer.accepting(show_id):
            raise AppError(ErrorCode.BUSY, "the room is catching up; try again", retry_after=1)

    async def chat(self, seat: Seat, body: rules.Chat) -> dict[str, Any]:
        self._backlog_check(seat.show_id)
        seat = await self._current(seat)
        outcome = await self._store.gate(
            seat.show_id,
            seat.principal.subject,
            seat.staff,
            self._limits.chat,
            "chat",
            rules.words_of(body.text),
        )
        if not outcome.ok:
            raise self._gate_error(outcome)
        message = {
            "id": int(outcome.values[0]),
            "user": seat.user(),
            "text": body.text,
            "ts": now_ms(),
        }
        self._coalescer.chat(seat.show_id, message)
        return {"id": message["id"]}

    async def ask(self, seat: Seat, body: rules.Ask) -> dict[str, Any]:
        self._backlog_check(seat.show_id)
        seat = await self._current(seat)
        outcome = await self._store.gate(
            seat.show_id,
            seat.principal.subject,
            seat.staff,
            self._limits.question,
            "ask",
            rules.words_of(body.text),
        )
        if not outcome.ok:
            raise self._gate_error(outcome)
        qid, pinned = int(outcome.values[0]), outcome.values[1]
        question = {
            "id": qid,
            "user": seat.user(),
            "text": body.text,
            "product_id": int(pinned) if pinned else None,
            "ts": now_ms(),
            "votes": 0,
        }
        await self._store.add_question(seat.show_id, question, rules.question_score(0, qid))
        self._coalescer.question(seat.show_id, question)
        return {"id": qid, "product_id": question["product_id"]}

    async def vote(self, seat: Seat, body: rules.Vote) -> dict[str, Any]:
        outcome = await self._store.vote(seat.show_id, seat.principal.subject, body.question_id)
        if outcome.status == "missing":
            raise not_found("question")
        if outcome.status == "closed":
            raise AppError(ErrorCode.CONFLICT, "this question is no longer open")
        if outcome.status in ("ended", "banned", "timed_out"):
            raise self._gate_error(outcome)
        votes = int(outcome.values[0])
        if outcome.ok:
            self._coalescer.votes(seat.show_id, body.question_id)
        return {"id": body.question_id, "votes": votes, "counted": outcome.ok}

    async def react(self, seat: Seat, body: rules.React) -> dict[str, Any]:
        seat = await self._current(seat)
        limit = (10**6, 1) if seat.staff else self._limits.reaction
        outcome = await self._store.react(seat.show_id, seat.principal.subject, body.count, limit)
        if not outcome.ok:
            raise self._gate_error(outcome)
        hearts = int(outcome.values[0])
        self._coalescer.hearts(seat.show_id)
        return {"hearts": hearts}

    # Staff actions: each is checked here, then published at once.

    async def pin(self, seat: Seat, body: rules.Pin) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "pin products")
        show = await self._shows.get(seat.shop_id, seat.show_id)
        if body.product_id not in show["lineup"]:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                "only products of the show's lineup can be pinned",
                field="product_id",
            )
        products = await self._products.public_products(seat.shop_id, [body.product_id])
        product = products.get(body.product_id)
        if product is None:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                "this product is no longer in the catalog",
                field="product_id",
            )
        now = now_ms()
        deal = None
        if body.deal is not None:
            rules.check_deal(body.deal, product["price"], now, product["variants"])
            d = body.deal
            grace = await self._deal_grace(seat.show_id)
            closes = d.ends_at_ms + grace
            deal_id = await self._deals(
                seat.show_id, body.product_id, d.price, d.units, d.per_buyer, closes
            )
            deal = {"id": deal_id, **d.model_dump(), "grace_ms": grace, "closes_at_ms": closes}
        pin = {"product": product, "deal": deal, "pinned_at_ms": now}
        event_pin = pin if deal is None else {**pin, "deal": {**deal, "units_left": deal["units"]}}
        outcome = await self._store.pin(
            seat.show_id,
            body.product_id,
            pin,
            None if deal is None else deal["units"],
            dumps([{"type": "pin", "pin": event_pin}]),
        )
        if outcome.status == "full":
            raise AppError(
                ErrorCode.CONFLICT, f"at most {rules.MAX_PINS} products can be pinned; unpin one"
            )
        self._closed_check(outcome)
        seq = int(outcome.values[0])
        await self._archive.record(
            seat.show_id, "pin", {"product_id": body.product_id, "deal": deal}, seq
        )
        return {"seq": seq, "pin": event_pin}

    async def unpin(self, seat: Seat, body: rules.Unpin) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "unpin products")
        outcome = await self._store.unpin(
            seat.show_id,
            body.product_id,
            dumps([{"type": "unpin", "product_id": body.product_id}]),
        )
        self._closed_check(outcome)
        if outcome.status == "missing":
            raise not_found("pin")
        seq = int(outcome.values[0])
        await self._archive.record(seat.show_id, "unpin", {"product_id": body.product_id}, seq)
        return {"seq": seq}

    async def close_question(self, seat: Seat, body: rules.CloseQuestion) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "answer or dismiss questions")
        event = {"type": "question.closed", "id": body.question_id, "status": body.status}
        outcome = await self._store.close_question(seat.show_id, body.question_id, dumps([event]))
        if outcome.status == "ended":
            raise AppError(ErrorCode.SHOW_CLOSED, "the show has ended")
        if outcome.status == "missing":
            raise not_found("question")
        if outcome.status == "closed":
            raise AppError(ErrorCode.CONFLICT, "this question is already closed")
        seq, raw, votes = int(outcome.values[0]), outcome.values[1], int(outcome.values[2])
        question = json.loads(raw) if raw else {}
        await self._archive.record(
            seat.show_id,
            f"question.{body.status}",
            {
                "id": body.question_id,
                "text": question.get("text"),
                "votes": votes,
                "product_id": question.get("product_id"),
            },
            seq,
        )
        return {"seq": seq}

    async def delete_message(self, seat: Seat, body: rules.DeleteMessage) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "delete messages")
        event = {"type": "chat.deleted", "id": body.message_id}
        outcome = await self._store.delete_message(seat.show_id, body.message_id, dumps([event]))
        if outcome.status == "missing":
            raise not_found("message")
        self._archive.mark_deleted(seat.show_id, body.message_id)
        return {"seq": int(outcome.values[0])}

    async def _not_staff(self, seat: Seat, subject: str) -> None:
        if subject == seat.principal.subject:
            raise AppError(ErrorCode.CONFLICT, "you cannot moderate yourself")
        if subject.startswith("a:"):
            role = await self._role_in(seat.shop_id, int(subject[2:]))
            if rules.role_allows(role, rules.STAFF):
                raise AppError(ErrorCode.FORBIDDEN, "the show's staff cannot be moderated")

    async def timeout(self, seat: Seat, body: rules.Timeout) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "time out viewers")
        await self._not_staff(seat, body.subject)
        until = now_ms() + body.minutes * 60_000
        event = {"type": "user.timed_out", "subject": body.subject, "until_ms": until}
        outcome = await self._store.timeout(seat.show_id, body.subject, until, dumps([event]))
        return {"seq": int(outcome.values[0]), "until_ms": until}

    async def ban(self, seat: Seat, body: rules.Ban) -> tuple[dict[str, Any], list[str]]:
        """Returns the answer and the banned viewer's connections, for the transport to close."""
        await self._require(seat, rules.STAFF, "ban viewers")
        await self._not_staff(seat, body.subject)
        event = {"type": "user.banned", "subject": body.subject}
        outcome = await self._store.ban(seat.show_id, body.subject, dumps([event]))
        seq, sids = int(outcome.values[0]), [str(s) for s in outcome.values[1]]
        await self._archive.record(seat.show_id, "ban", {"subject": body.subject}, seq)
        return {"seq": seq}, sids

    async def announce(self, seat: Seat, body: rules.Announce) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "pin announcements")
        announcement = None
        if body.text is not None:
            announcement = {"text": body.text, "at_ms": now_ms(), "by": seat.user()}
        event = {"type": "announcement", "announcement": announcement}
        outcome = await self._store.set_state(
            seat.show_id,
            "announcement",
            "" if announcement is None else dumps(announcement),
            dumps([event]),
        )
        self._closed_check(outcome)
        return {"seq": int(outcome.values[0])}

    async def slow_mode(self, seat: Seat, body: rules.SlowMode) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "set slow mode")
        event = {"type": "slow_mode", "seconds": body.seconds}
        outcome = await self._store.set_state(
            seat.show_id, "slow_mode", str(body.seconds) if body.seconds else "", dumps([event])
        )
        self._closed_check(outcome)
        return {"seq": int(outcome.values[0])}

    async def blocked_words(self, seat: Seat, body: rules.BlockedWords) -> dict[str, Any]:
        await self._require(seat, rules.STAFF, "set blocked words")
        await self._store.set_blocked(seat.show_id, body.words)
        return {"words": await self._store.blocked(seat.show_id)}

    async def _require(self, seat: Seat, allowed: frozenset[Role], action: str) -> None:
        """Staff rights are read afresh for every staff action: a member removed, demoted or
        promoted while connected is treated by their role now, not at the time they joined."""
        role = None
        if seat.principal.account_id is not None:
            role = await self._role_in(seat.shop_id, seat.principal.account_id)
            self._roles[(seat.shop_id, seat.principal.account_id)] = (
                role,
                time.monotonic() + ROLE_TTL,
            )
        rules.require(role, allowed, action)

    def _closed_check(self, outcome: Outcome) -> None:
        if outcome.status in ("closed", "ended"):
            raise AppError(ErrorCode.SHOW_CLOSED, "the show has ended")

    # Lifecycle.

    async def start(self, seat: Seat) -> dict[str, Any]:
        await self._require(seat, rules.HOSTS, "start the show")
        return await self.set_status(seat.shop_id, seat.show_id, Status.LIVE)

    async def end(self, seat: Seat) -> dict[str, Any]:
        await self._require(seat, rules.HOSTS, "end the show")
        return await self.set_status(seat.shop_id, seat.show_id, Status.ENDED)

    async def set_status(self, shop_id: int, show_id: int, target: Status) -> dict[str, Any]:
        """Move the show (database first, the state machine decides), then tell the room.

        If the room missed an earlier transition (Redis failed after the database moved), the
        same request again repairs it: the database refuses the repeat, the room catches up.
        """
        try:
            show = await self._shows.transition(shop_id, show_id, target)
        except AppError as err:
            if err.code is not ErrorCode.INVALID_TRANSITION:
                raise
            show = await self._shows.get(shop_id, show_id)
            current = await self._store.shop_and_status(show_id)
            if show["status"] != target.value or current is None or current[1] == target.value:
                raise
            log.warning("room status repaired", extra={"show_id": show_id})
        await self._open(show_id)
        at = now_ms()
        field = "started_at_ms" if target is Status.LIVE else "ended_at_ms"
        event: dict[str, Any] = {"type": "status", "status": target.value, field: at}
        if target is Status.ENDED:
            event["final"] = await self._final_stats(show_id)
            # What this node accepted just before the end goes out before the final frame.
            await self._coalescer.flush(show_id)
        outcome = await self._store.status(show_id, target.value, field, at, dumps([event]))
        seq = int(outcome.values[0]) if outcome.ok else None
        await self._archive.record(show_id, f"status.{target.value}", {field: at}, seq)
        if target is Status.ENDED:
            for callback in self._on_closed:
                await callback(show_id)
        return show

    async def update_show(self, shop_id: int, show_id: int, patch: ShowPatch) -> dict[str, Any]:
        """Edit the show (database first); a new playback URL also reaches the room at once."""
        show = await self._shows.update(shop_id, show_id, patch)
        if "playback_url" in patch.model_fields_set:
            await self._open(show_id)
            url = show["playback_url"]
            event = dumps([{"type": "playback", "playback_url": url}])
            await self._store.set_state(show_id, "playback_url", url or "", event)
        return show

    async def set_stream(self, show_id: int, online: bool) -> None:
        """The ingest saw the host's encoder start or stop publishing: tell the room."""
        await self._open(show_id)
        event = dumps([{"type": "stream", "online": online}])
        await self._store.set_state(show_id, "stream_online", "1" if online else "", event)

    async def forget(self, shop_id: int, show_id: int) -> None:
        """Delete a scheduled show, then its room: a later show with the same id starts clean."""
        await self._shows.delete(shop_id, show_id)
        await self._store.drop(show_id)

    async def _final_stats(self, show_id: int) -> dict[str, Any]:
        return await self._store.totals(show_id)


def _int_or_none(value: str | None) -> int | None:
    return None if value is None else int(value)
