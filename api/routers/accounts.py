"""Billing accounts: who is invoiced, how, and for which id tokens."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import IntegrityError

from activities.billing.accounts import (
    AccountError,
    check_address,
    check_currency,
    vat_id,
)
from activities.billing.currencies import round_money
from activities.invoicing_schedules import ensure_schedule
from activities.persistence.models import BillingAccount, utcnow
from activities.persistence.repositories import accounts, id_tokens
from activities.persistence.repositories.tariffs import CUSTOMER_GROUPS
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import conflict, not_found, unprocessable
from api.schemas import Currency, Identifier, IdTokenOut, TimeZone

router = APIRouter(prefix="/accounts", tags=["billing accounts"])
log = logging.getLogger(__name__)

Line = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AccountId = Annotated[str, Path(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:\-]+$")]
TokenId = Annotated[str, Path(min_length=1, max_length=36)]
Kind = Literal["fleet", "company", "resident", "driver"]
Group = Literal["public", "fleet", "residents", "employees"]
Grouping = Literal["session", "station", "token"]
Language = Literal["en", "de", "fr", "nl"]
Provider = Literal["invoice", "balance", "stripe"]
assert set(get_args(Group)) == set(CUSTOMER_GROUPS)
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Address(BaseModel):
    """A billing address as the invoice prints it."""

    model_config = ConfigDict(extra="forbid")

    line1: Line
    line2: Line | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    city: Line
    region: Line | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] = Field(
        description="ISO 3166 alpha-2"
    )


class AccountFields(BaseModel):
    """What an account may change."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = None
    customer_group: Group | None = Field(
        None, description="picks the tariff assigned for this group where its cars charge"
    )
    email: Email | None = None
    address: Address | None = None
    vat_id: Annotated[str, StringConstraints(min_length=2, max_length=30)] | None = Field(
        None, description="checked by the country's rules (python-stdnum)"
    )
    payment_terms_days: int | None = Field(None, ge=0, le=120)
    grouping: Grouping | None = Field(
        None, description="invoice lines per session, per station or per id token"
    )
    language: Language | None = None
    time_zone: TimeZone | None = Field(
        None, description="its invoice periods end at local midnight"
    )
    payment_provider: Provider | None = None
    credit_limit: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=3)


class AccountIn(AccountFields):
    """A new billing account."""

    id: Identifier
    name: Line
    kind: Kind
    address: Address
    currency: Currency = "EUR"
    operator: Identifier = Field("default", description="the issuing company (invoice series)")


class AccountOut(BaseModel):
    """A billing account."""

    id: str
    name: str
    kind: str
    customer_group: str
    operator: str
    email: str | None
    address: dict[str, Any]
    currency: str
    vat_id: str | None
    payment_terms_days: int
    grouping: str
    language: str
    time_zone: str
    payment_provider: str
    credit_limit: Decimal
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, row: BillingAccount) -> AccountOut:
        """The answer for a stored account (money in the currency's minor unit)."""
        out = cls.model_validate(row, from_attributes=True)
        out.credit_limit = round_money(row.credit_limit, row.currency)
        return out


def _apply(row: BillingAccount, fields: AccountFields) -> None:
    """Set the given fields on ``row``, checked; 422 with the field's reason otherwise."""
    given = fields.model_dump(exclude_unset=True)
    try:
        if "address" in given:
            if given["address"] is None:
                raise AccountError("address", "required")
            row.address = check_address({k: v for k, v in given.pop("address").items()})
        if "vat_id" in given:
            number = given.pop("vat_id")
            row.vat_id = None if number is None else vat_id(number, row.address["country"])
        for field, value in given.items():
            if value is None and field != "email":
                raise AccountError(field, "cannot be null")
            setattr(row, field, value)
        if hasattr(fields, "currency"):
            row.currency = check_currency(fields.currency)
    except AccountError as error:
        raise unprocessable(str(error)) from None


async def _ensure_schedule(request: Request, time_zone: str) -> None:
    """The account's time zone gets its invoicing schedule (after the answer; the
    worker checks every zone at start, so a Temporal away now loses nothing)."""
    try:
        async with asyncio.timeout(10):
            client = await request.app.state.temporal.client()
            await ensure_schedule(client, time_zone, request.app.state.task_queue)
    except Exception as error:
        log.warning("invoicing schedule for %s not checked: %s", time_zone, error)


async def _get(session: Session, account_id: str) -> BillingAccount:
    row = await accounts.get_account(session, account_id)
    if row is None:
        raise not_found("account", account_id)
    return row


@router.get("")
async def list_accounts(
    session: Session,
    _: Viewer,
    operator: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[AccountOut]:
    """Accounts ordered by id."""
    rows = await accounts.list_accounts(session, limit=limit, offset=offset, operator=operator)
    return [AccountOut.of(row) for row in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_account(
    body: AccountIn,
    session: Session,
    _: Operator,
    request: Request,
    background: BackgroundTasks,
) -> AccountOut:
    """Open an account; 409 if the id is taken, 422 for an invalid VAT id or address."""
    if await accounts.get_account(session, body.id) is not None:
        raise conflict("account", body.id)
    row = BillingAccount(
        id=body.id,
        kind=body.kind,
        operator=body.operator,
        address={},
        customer_group="public",
        payment_terms_days=14,
        grouping="session",
        language="en",
        time_zone="UTC",
        payment_provider="invoice",
        credit_limit=Decimal(0),
    )
    _apply(row, body)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        raise conflict("account", body.id) from None
    background.add_task(_ensure_schedule, request, row.time_zone)
    return AccountOut.of(row)


@router.get("/{account_id}")
async def get_account(account_id: AccountId, session: Session, _: Viewer) -> AccountOut:
    """One account."""
    return AccountOut.of(await _get(session, account_id))


@router.patch("/{account_id}")
async def update_account(
    account_id: AccountId,
    body: AccountFields,
    session: Session,
    _: Operator,
    request: Request,
    background: BackgroundTasks,
) -> AccountOut:
    """Change an account; invoices already issued keep what they printed."""
    row = await _get(session, account_id)
    zone = row.time_zone
    _apply(row, body)
    await session.commit()
    if row.time_zone != zone:
        background.add_task(_ensure_schedule, request, row.time_zone)
    return AccountOut.of(row)


@router.post("/{account_id}/close")
async def close_account(account_id: AccountId, session: Session, _: Operator) -> AccountOut:
    """Close an account: no invoicing run starts for it after its last period, and its
    tokens' new sessions are no longer billed to it."""
    row = await _get(session, account_id)
    if row.closed_at is None:
        row.closed_at = utcnow()
        for token in await accounts.tokens_of(session, account_id):
            token.account_id = None
        await session.commit()
    return AccountOut.of(row)


@router.get("/{account_id}/tokens")
async def list_account_tokens(
    account_id: AccountId, session: Session, _: Viewer
) -> list[IdTokenOut]:
    """The id tokens whose sessions the account pays for."""
    await _get(session, account_id)
    return [IdTokenOut.model_validate(t) for t in await accounts.tokens_of(session, account_id)]


@router.put("/{account_id}/tokens/{token}")
async def add_account_token(
    account_id: AccountId, token: TokenId, session: Session, _: Operator
) -> IdTokenOut:
    """Bill the token's sessions to the account from its next settlement on; 409 if
    another account owns it (release it there first)."""
    row = await _get(session, account_id)
    if row.closed_at is not None:
        raise unprocessable(f"account {account_id!r} is closed", where="path")
    found = await id_tokens.get_token(session, token)
    if found is None:
        raise not_found("id token", token)
    if found.account_id not in (None, account_id):
        raise conflict("id token owned by another account", token)
    found.account_id = account_id
    await session.commit()
    return IdTokenOut.model_validate(found)


@router.delete("/{account_id}/tokens/{token}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_account_token(
    account_id: AccountId, token: TokenId, session: Session, _: Operator
) -> Response:
    """Stop billing the token's sessions to the account."""
    await _get(session, account_id)
    found = await id_tokens.get_token(session, token)
    if found is None or found.account_id != account_id:
        raise not_found("id token of this account", token)
    found.account_id = None
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
