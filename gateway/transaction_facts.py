"""What a transaction message says about its stored transaction: rules, no queries.

The station service resolves a message to its row; these decide what the message
changes on it (a repeat, a late start, a stop, a reused id), whatever OCPP version
carried it.
"""

from __future__ import annotations

from activities.persistence.models import Transaction
from activities.persistence.repositories import transactions
from workflows.domain import SessionStopped, TransactionEvent, TransactionEventKind, energy_register


def begins_anew(tx: Transaction, event: TransactionEvent) -> bool:
    """A 2.x event for a transaction that has ended, telling of a later one under the
    same id (stations may reuse ids): it happened after the stop, and it is a Started
    or a message the ended transaction has not seen. A repeat or a late message of the
    ended one (sent offline, delivered out of order) is dated before its stop."""
    if tx.status == "active" or tx.stopped_at is None or event.timestamp <= tx.stopped_at:
        return False
    return event.kind is TransactionEventKind.STARTED or (
        event.seq_no is not None and event.seq_no not in (tx.seq_nos or [])
    )


def belongs_before(newest: Transaction, earlier: Transaction, event: TransactionEvent) -> bool:
    """A 2.x message, found under a reused id, that tells of the earlier transaction: it
    is dated before the newest one started and within the earlier one's life (a retry
    or a late message of the earlier session, delivered after the id was used again)."""
    return (
        event.timestamp < newest.started_at
        and earlier.stopped_at is not None
        and earlier.started_at <= event.timestamp <= earlier.stopped_at
    )


def note_event(tx: Transaction, event: TransactionEvent) -> None:
    """Keep what any message of the transaction adds: its sequence number, a token or a
    remote-start id learned late."""
    if event.seq_no is not None:
        tx.seq_nos = sorted({*(tx.seq_nos or []), event.seq_no})
    if event.id_token and not tx.id_token:
        tx.id_token = event.id_token
    if event.remote_start_id is not None and tx.remote_start_id is None:
        tx.remote_start_id = event.remote_start_id


def late_start(tx: Transaction, event: TransactionEvent) -> None:
    """A Started that arrives after the transaction's later events (sent offline,
    delivered out of order) knows the start best: take its facts."""
    if tx.transaction_ref is None or tx.start_key is not None:
        return  # a 1.6 retry: the stored start is already these facts
    tx.evse_id, tx.connector_id = event.evse_id, event.connector_id
    tx.started_at = min(tx.started_at, event.timestamp)
    register = register_of(event)
    if register is not None:
        tx.meter_start_wh = register


def register_of(event: TransactionEvent) -> int | None:
    """The energy register (Wh) the message reports: its own field, else its readings."""
    if event.register_wh is not None:
        return event.register_wh
    reading = energy_register(event.readings)
    return round(reading) if reading is not None else None


def disagrees(tx: Transaction, event: TransactionEvent) -> bool:
    """A stop for a closed transaction that says something else (e.g. after a timeout).
    A time the gateway's clock stood in for says nothing: a retry reads the clock again."""
    other_time = event.unusable_time is None and tx.stopped_at != event.timestamp
    return other_time or tx.meter_stop_wh != register_of(event)


async def stop_of(tx: Transaction, event: TransactionEvent) -> SessionStopped | None:
    """Record the stop on ``tx``; the stop event, or None if it was already stopped (a
    repeated stop adds nothing)."""
    register = register_of(event)
    reason = event.stopped_reason or "Local"
    if not await transactions.record_stop(
        tx, meter_stop_wh=register, stopped_at=event.timestamp, reason=reason
    ):
        return None
    return SessionStopped(
        transaction_id=tx.ref, meter_stop_wh=register, stopped_at=event.timestamp, reason=reason
    )
