"""core.web.validation_error and core.money's currency and amount types."""

from __future__ import annotations

import asyncio
from typing import Any, Self

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError, model_validator

from core.errors import ErrorCode
from core.money import MAX_MINOR_UNITS, MAX_STOCK, Currency, MinorUnits, Stock, is_currency
from core.tasks import cancel
from core.web import validation_error


class Line(BaseModel):
    qty: int


class Order(BaseModel):
    name: str
    lines: list[Line] = []

    @model_validator(mode="after")
    def _not_reserved(self) -> Self:
        if self.name == "reserved":
            raise ValueError("that name is reserved")
        return self


def error_for(data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Order.model_validate(data)
    return info.value


def test_missing_field_names_the_field() -> None:
    error = validation_error(error_for({}))
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.status == 422
    assert error.field == "name"
    assert error.message == "name: Field required"
    assert error.details == [{"field": "name", "message": "Field required", "type": "missing"}]


def test_nested_error_field_is_a_dotted_path() -> None:
    error = validation_error(error_for({"name": "ok", "lines": [{"qty": 1}, {"qty": "many"}]}))
    assert error.field == "lines.1.qty"
    assert error.message.startswith("lines.1.qty: Input should be a valid integer")
    assert error.details[0]["type"] == "int_parsing"


def test_message_is_the_first_problem_details_list_them_all() -> None:
    error = validation_error(error_for({"name": 5, "lines": [{"qty": "x"}, {}]}))
    assert error.field == "name"
    assert error.message.startswith("name: ")
    assert [d["field"] for d in error.details] == ["name", "lines.0.qty", "lines.1.qty"]
    assert [d["type"] for d in error.details] == ["string_type", "int_parsing", "missing"]


def test_details_do_not_echo_the_input() -> None:
    error = validation_error(error_for({"name": "ok", "lines": [{"qty": "s3cr3t-value"}]}))
    assert "s3cr3t-value" not in str(error.to_dict())


def test_model_level_error_has_no_field() -> None:
    error = validation_error(error_for({"name": "reserved"}))
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.field is None
    assert "that name is reserved" in error.message
    assert not error.message.startswith(":")
    assert "field" not in error.to_dict()
    assert error.details == [{"field": "", "message": error.message, "type": "value_error"}]


def test_wrong_top_level_type_has_no_field() -> None:
    with pytest.raises(ValidationError) as info:
        Order.model_validate_json(b"[1, 2]")
    error = validation_error(info.value)
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.field is None


@pytest.mark.parametrize("raw", [b"{bad", b"", b'{"name": "x"', b"\xff"])
def test_invalid_json_is_its_own_code(raw: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        Order.model_validate_json(raw)
    error = validation_error(info.value)
    assert error.code is ErrorCode.INVALID_JSON
    assert error.status == 400
    assert error.message == "request body is not valid JSON"
    assert error.field is None
    assert error.details is None


@pytest.mark.parametrize("code", ["EUR", "USD", "GBP", "JPY", "CHF"])
def test_known_currencies(code: str) -> None:
    assert is_currency(code)
    assert TypeAdapter(Currency).validate_python(code) == code


@pytest.mark.parametrize("code", ["eur", "Eur", "EU", "EURO", "", " EUR", "ÉUR", "€UR", "123"])
def test_badly_formed_currency(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(ValidationError, match="three-letter ISO 4217 code"):
        TypeAdapter(Currency).validate_python(code)


@pytest.mark.parametrize("code", ["ABC", "XYZ", "E1R", "E U", "XXX", "XTS"])
def test_well_formed_but_unknown_currency(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(ValidationError, match=f"unknown ISO 4217 currency code '{code}'"):
        TypeAdapter(Currency).validate_python(code)


def test_currency_in_a_model_names_the_field() -> None:
    class Price(BaseModel):
        currency: Currency

    with pytest.raises(ValidationError) as info:
        Price.model_validate({"currency": "usd"})
    error = validation_error(info.value)
    assert error.field == "currency"
    assert "three-letter" in error.message


@pytest.mark.parametrize(("kind", "maximum"), [(MinorUnits, MAX_MINOR_UNITS), (Stock, MAX_STOCK)])
def test_amount_bounds(kind: Any, maximum: int) -> None:
    adapter: TypeAdapter[int] = TypeAdapter(kind)
    assert adapter.validate_python(0) == 0
    assert adapter.validate_python(maximum) == maximum
    for bad in (-1, maximum + 1):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


@pytest.mark.parametrize("value", ["5", 5.0, True, None])
@pytest.mark.parametrize("kind", [MinorUnits, Stock])
def test_amounts_are_strict_integers(kind: Any, value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(value)


async def test_cancel_stops_a_task_that_swallows_its_first_cancellation() -> None:
    ticks = 0

    async def loop() -> None:
        nonlocal ticks
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                # What a library that converts the cancellation into its own error, caught by
                # the loop's error handler, amounts to.
                if ticks == 0:
                    ticks += 1
                    continue
                raise

    task = asyncio.get_running_loop().create_task(loop())
    await asyncio.sleep(0.02)
    await asyncio.wait_for(cancel(task, again_after=0.05), 5)
    assert task.cancelled() and ticks == 1


async def test_cancel_raises_what_the_task_ended_with() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    task = asyncio.get_running_loop().create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel(task)
    await cancel(None)
