"""The money audit's loop: a periodic pass that finds orders or payments whose money disagrees,
repairs what it can, and reports every finding as a gauge and a log line naming the order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from shared.metrics import AUDIT_FINDINGS, AUDIT_LAST_PASS, AUDIT_REPAIRS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One disagreement: its kind, the order it concerns, and whether the pass repaired it."""

    kind: str
    order_id: str
    repaired: bool = False


AuditPass = Callable[[], Awaitable[Sequence[Finding]]]


def report(findings: Sequence[Finding], kinds: Iterable[str]) -> None:
    """Sets each kind's gauge to what this pass found and logs every finding (ids only)."""
    for kind in kinds:
        AUDIT_FINDINGS.labels(kind).set(sum(1 for found in findings if found.kind == kind))
    for found in findings:
        if found.repaired:
            AUDIT_REPAIRS.labels(found.kind).inc()
            log.warning("money audit: order %s %s; repaired", found.order_id, found.kind)
        else:
            log.error("money audit: order %s %s; someone must act", found.order_id, found.kind)


async def keep_auditing(audit: AuditPass, kinds: Iterable[str], interval_s: float) -> None:
    """Runs a pass every `interval_s` forever (a background loop), noting when each completes;
    a failed pass is logged and leaves the gauges as the last good one set them."""
    kinds = tuple(kinds)
    while True:
        try:
            report(await audit(), kinds)
            AUDIT_LAST_PASS.set_to_current_time()
        except Exception:
            log.exception("money audit pass failed; trying again next time")
        await asyncio.sleep(interval_s)
