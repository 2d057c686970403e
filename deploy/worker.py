"""The Temporal worker: every workflow and activity of the CSMS on one task queue."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Gauge
from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.alerts import AlertActivities, SmtpSettings
from activities.baselines import BaselineActivities
from activities.certificate_authority import CertificateAuthority
from activities.certificates import CertificateActivities
from activities.compliance import ComplianceActivities
from activities.demand_response import DemandResponseActivities
from activities.firmware import FirmwareActivities
from activities.health import EVIDENCE_WAIT_S, HealthActivities
from activities.invoicing import InvoicingActivities
from activities.log_uploads import LogUploadActivities
from activities.payments import PaymentActivities
from activities.payments.holds import HoldActivities
from activities.payments.stripe_adapter import StripeActivities, StripeGateway
from activities.persistence.database import Database
from activities.reservations import ReservationActivities
from activities.sessions import SessionActivities
from activities.smart_charging import SmartChargingActivities
from activities.station_locator import RoutingActivities
from activities.webhooks import WebhookActivities
from workflows.alert_delivery import AlertDeliveryWorkflow
from workflows.certificate_signing import CertificateSigningWorkflow
from workflows.charging_session import ChargingSessionWorkflow
from workflows.configuration_push import ConfigurationPushWorkflow
from workflows.demand_response import DemandResponseWorkflow
from workflows.firmware_rollout import FirmwareRolloutWorkflow
from workflows.firmware_update import FirmwareUpdateWorkflow
from workflows.invoicing import InvoicingRunWorkflow, InvoicingWorkflow
from workflows.log_upload import LogUploadWorkflow
from workflows.payment_hold import PaymentHoldWorkflow
from workflows.reservation import ReservationWorkflow
from workflows.site_charging import SiteChargingWorkflow
from workflows.station_command import StationCommandWorkflow
from workflows.station_health import StationHealthWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

WORKFLOWS = [
    ChargingSessionWorkflow,
    StationCommandWorkflow,
    ConfigurationPushWorkflow,
    ReservationWorkflow,
    LogUploadWorkflow,
    SiteChargingWorkflow,
    DemandResponseWorkflow,
    WebhookDeliveryWorkflow,
    InvoicingWorkflow,
    InvoicingRunWorkflow,
    PaymentHoldWorkflow,
    FirmwareUpdateWorkflow,
    FirmwareRolloutWorkflow,
    CertificateSigningWorkflow,
    StationHealthWorkflow,
    AlertDeliveryWorkflow,
]


_REGISTRY: CollectorRegistry | None = None


def worker_registry() -> CollectorRegistry:
    """The worker process's own metrics (the SDK exports its task and activity
    latencies itself, see ``CSMS_WORKER_SDK_METRICS_PORT``)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = CollectorRegistry()
        info = Gauge(
            "csms_worker_workflow_types",
            "Workflow types this worker runs",
            registry=_REGISTRY,
        )
        info.set(len(WORKFLOWS))
    return _REGISTRY


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox of the sandboxed workflows (the worker's and the replay tests')."""
    # Logging handlers (rich) import lazily while a workflow logs; they must come from
    # outside the sandbox or the import fails inside it.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("rich")
    )


def stripe_gateway() -> StripeGateway | None:
    """Stripe, when the deployment configured a key (``CSMS_STRIPE_API_KEY``; its test
    mode with an ``sk_test_`` key; ``CSMS_STRIPE_API_BASE`` for a stand-in)."""
    key = os.environ.get("CSMS_STRIPE_API_KEY")
    if not key:
        return None
    return StripeGateway(key, api_base=os.environ.get("CSMS_STRIPE_API_BASE"))


def build_worker(
    client: Client,
    db: Database,
    task_queue: str,
    authority: CertificateAuthority | None = None,
    smtp: SmtpSettings | None = None,
    *,
    evidence_wait_s: float = EVIDENCE_WAIT_S,
) -> Worker:
    """A worker with all workflows and activities bound to ``db``; station certificates
    are signed by ``authority`` (None: a CA made for this worker alone, for tests);
    e-mail alerts go out through ``smtp`` (None: e-mail alerts fail and are retried);
    an incident waits up to ``evidence_wait_s`` for its fault's message in the log."""
    sessions = SessionActivities(db)
    routing = RoutingActivities(db)
    reservations = ReservationActivities(db)
    uploads = LogUploadActivities(db)
    smart = SmartChargingActivities(db)
    compliance = ComplianceActivities(db)
    demand = DemandResponseActivities(db)
    hooks = WebhookActivities(db)
    baselines = BaselineActivities(db)
    invoicing = InvoicingActivities(db)
    payments = PaymentActivities(db)
    cards = StripeActivities(stripe_gateway())
    holds = HoldActivities(db)
    fw = FirmwareActivities(db)
    certificates = CertificateActivities(db, authority or CertificateAuthority.generate())
    health = HealthActivities(db, evidence_wait_s)
    alerts = AlertActivities(db, smtp)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            sessions.settle_session,
            sessions.record_remote_start,
            sessions.expire_remote_start,
            sessions.record_unsettled,
            sessions.record_hold_missed,
            routing.locate_stations,
            reservations.record_reservation,
            reservations.set_reservation_status,
            uploads.record_log_upload,
            uploads.set_log_upload_status,
            smart.plan_site,
            smart.plan_site_state,
            smart.site_is_smart,
            compliance.report_event,
            compliance.readings_complete,
            compliance.compliance_so_far,
            baselines.record_baselines,
            demand.plain_site_commands,
            hooks.deliver_webhook,
            hooks.give_up_webhook,
            hooks.queue_report_notifications,
            invoicing.issue_invoice,
            invoicing.issue_invoices,
            invoicing.render_invoice,
            invoicing.render_invoices,
            invoicing.accounts_to_invoice,
            payments.collect_invoice,
            cards.hold_card,
            cards.capture_card,
            cards.release_card,
            holds.await_session,
            holds.close_hold,
            fw.record_firmware_update,
            fw.end_firmware_update,
            fw.station_busy,
            fw.station_firmware_version,
            fw.rollout_targets,
            fw.set_rollout_state,
            certificates.sign_station_certificate,
            certificates.settle_station_certificate,
            health.classify_fault,
            health.record_health,
            health.open_incident,
            health.note_incident,
            alerts.deliver_alert,
            alerts.give_up_alert,
        ],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=64,
        max_cached_workflows=5000,
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
    )
