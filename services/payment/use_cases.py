"""The payment use cases wired together: one use-case lock per payment, one job runner, one
mapping of facts to messages, shared by all of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from services.payment import audit
from services.payment.asaas_updates import AsaasUpdateService
from services.payment.audit import PaymentAudit
from services.payment.charge_creation import ChargeCreation
from services.payment.charges import ChargeService
from services.payment.config import PaymentPolicy
from services.payment.jobs import JobRunner
from services.payment.outgoing import PaymentMessages
from services.payment.payments import Payments, UseCaseContext
from services.payment.pix_images import PixImages
from services.payment.ports import (
    CHARGE_JOB,
    DELETION_JOB,
    RECONCILE_JOB,
    REFUND_JOB,
    WEBHOOK_JOB,
    AsaasAccounts,
    JobQueue,
    PaymentRepository,
    PixImageStore,
    WebhookInbox,
)
from services.payment.refunds import RefundService
from shared.audit import keep_auditing
from shared.locks import KeyedLocks


@dataclass(frozen=True)
class PaymentUseCases:
    """The service's use-case classes and the runner of their jobs."""

    charges: ChargeService
    charge_creation: ChargeCreation
    refunds: RefundService
    asaas_updates: AsaasUpdateService
    runner: JobRunner
    pix_images: PixImages
    audit: PaymentAudit
    audit_interval_s: float

    def background_loops(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        """The loops that take the jobs, and the housekeeping, by name; start every one."""
        return {
            "webhooks": partial(self.runner.run, WEBHOOK_JOB, self.asaas_updates.process_webhook),
            "charges": partial(self.runner.run, CHARGE_JOB, self.charge_creation.create),
            "deletions": partial(self.runner.run, DELETION_JOB, self.charges.delete_charge),
            "refunds": partial(self.runner.run, REFUND_JOB, self.refunds.refund),
            "reconciliation": partial(self.runner.run, RECONCILE_JOB, self.asaas_updates.reconcile),
            "housekeeping": self.runner.housekeeping,
            "pix-images": self.pix_images.prune,
            "money-audit": partial(
                keep_auditing, self.audit.run_pass, audit.KINDS, self.audit_interval_s
            ),
        }


def build_use_cases(
    repository: PaymentRepository,
    jobs: JobQueue,
    inbox: WebhookInbox,
    images: PixImageStore,
    accounts: AsaasAccounts,
    policy: PaymentPolicy,
    clock: Callable[[], datetime],
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> PaymentUseCases:
    context = UseCaseContext(
        # A lock set of its own: the repository's document write locks are taken inside a
        # save, while a use-case lock is held around the whole use case (see Payments).
        payments=Payments(repository, jobs, KeyedLocks(), policy),
        accounts=accounts,
        messages=PaymentMessages(clock, new_id),
        policy=policy,
        clock=clock,
    )
    runner = JobRunner(jobs, inbox, policy, clock)
    pix_images = PixImages(images, policy.public_base_url, clock)
    refunds = RefundService(context, jobs, runner.wake)
    charges = ChargeService(context, jobs, runner.wake)
    charge_creation = ChargeCreation(context, pix_images, jobs, charges)
    return PaymentUseCases(
        charges=charges,
        charge_creation=charge_creation,
        refunds=refunds,
        asaas_updates=AsaasUpdateService(context, jobs, inbox, runner.wake, runner.lane),
        runner=runner,
        pix_images=pix_images,
        audit=PaymentAudit(context, jobs, refunds, charge_creation),
        audit_interval_s=policy.audit_interval_s,
    )
