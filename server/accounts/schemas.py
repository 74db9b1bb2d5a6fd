"""Request bodies for accounts, guests, shops and invites. Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from core.identity import Role
from core.text import plain_text

DisplayName = Annotated[str, plain_text(60)]
ShopName = Annotated[str, plain_text(120)]
Password = Annotated[str, Field(min_length=8, max_length=128)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignUp(Body):
    email: EmailStr
    password: Password
    display_name: DisplayName


class LogIn(Body):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=128)]


class NewGuest(Body):
    display_name: DisplayName


class NewShop(Body):
    name: ShopName


class NewInvite(Body):
    email: EmailStr
    role: Role


class AcceptInvite(Body):
    code: Annotated[str, Field(min_length=10, max_length=100)]


class ChangeRole(Body):
    role: Role
