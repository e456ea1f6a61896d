"""Webhooks: alerts POSTed at least once, each with a stable idempotency key (an I/O module).

HTTP POST of the alert as JSON with an ``Idempotency-Key`` header: the alert key, the
same on every attempt, every retry, every pass and after a crash, so a receiver can
drop repeats. Sends run on a thread pool so a slow or hung endpoint never holds up
other facilities. Each POST has a timeout; failures are retried with exponential
backoff within the pass's deadline, then retried on the next pass. Delivery is
at-least-once: a POST whose answer never arrived (a timeout) is sent again; a
delivery answered 2xx is recorded the moment it settles and never sent again.

At the deadline no new attempt starts; POSTs already in flight are waited for (at
most one request timeout) so their outcome is recorded rather than guessed. Only
deliveries that never started are "pending".

Endpoints are named by :attr:`pipeline.watch.config.WebhookSpec.endpoint`, never by
their URL: no token reaches a log, a ledger or a report.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from imagery import __version__ as campwatch_version
from pipeline.errors import AlertLedgerError
from pipeline.watch.alerts import Alert, sort_alerts
from pipeline.watch.config import WebhookSpec, header_values
from pipeline.watch.ledger import DeliveryLedger, DeliveryResult

log = logging.getLogger(__name__)

Poster = Callable[[str, bytes, dict[str, str], float], int]
"""POSTs a body to a URL with headers and a timeout; returns the HTTP status."""

SETTLE_MARGIN_S = 2.0
"""Beyond one request timeout, how long :meth:`WebhookDispatcher.finish` waits for POSTs in
flight at the deadline."""


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST ``body`` to ``url``; return the HTTP status (raises OSError without a response).

    Example:
        >>> # post_json("https://hooks.example.org/x", b"{}", {}, 10.0)
    """
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read(65536)
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass(frozen=True)
class DeliveryJob:
    """One alert to send to one webhook."""

    alert: Alert
    """What to send."""
    hook: WebhookSpec
    """Where."""


def _scrub(text: str, hook: WebhookSpec) -> str:
    """An error message with the hook's URL (and its query) replaced by its identity."""
    text = text.replace(hook.url, hook.endpoint)
    query = hook.url.partition("?")[2]
    return text.replace(query, "…") if query else text


class WebhookDispatcher:
    """Sends alerts from a thread pool; :meth:`finish` waits a bounded time.

    Example:
        >>> # d = WebhookDispatcher(timeout_s=10, retries=3, backoff_s=1, ledger=ledger)
        >>> # d.submit([DeliveryJob(alert, hook)]); results = d.finish(deadline_s=60)
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_workers: int = 8,
        post: Poster = post_json,
        ledger: DeliveryLedger | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.ledger = ledger
        """Where each outcome is recorded as it settles (None: only returned)."""
        self._post = post
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="webhook")
        self._futures: list[tuple[DeliveryJob, Future[DeliveryResult]]] = []
        self._cancel = threading.Event()
        self._queued: set[tuple[str, str]] = set()

    def submit(self, jobs: Iterable[DeliveryJob]) -> None:
        """Start sending (returns at once); a job already queued in this pass is skipped."""
        for job in jobs:
            ident = (job.alert.key, job.hook.endpoint)
            if ident in self._queued:
                continue
            self._queued.add(ident)
            self._futures.append((job, self._pool.submit(self._send, job)))

    def _settle(self, result: DeliveryResult) -> DeliveryResult:
        result = replace(result, at=datetime.now(UTC).isoformat(timespec="seconds"))
        if self.ledger is not None:
            try:
                self.ledger.record([result])
            except (AlertLedgerError, OSError) as exc:
                log.error("%s: delivery of %s to %s not recorded: %s", self.ledger.path,
                          result.key, result.endpoint, exc)
        return result

    def _send(self, job: DeliveryJob) -> DeliveryResult:
        hook = job.hook
        body = json.dumps(job.alert.to_json(), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"campwatch/{campwatch_version}",
            "Idempotency-Key": job.alert.key,
        } | header_values(hook)
        status: int | None = None
        error = ""
        attempts = 0
        for attempt in range(self.retries + 1):
            if self._cancel.is_set():
                break
            attempts += 1
            try:
                status = self._post(hook.url, body, headers, self.timeout_s)
                error = "" if 200 <= status < 300 else f"HTTP status {status}"
            except (OSError, ValueError) as exc:
                status, error = None, _scrub(f"{type(exc).__name__}: {exc}", hook)
            if not error:
                return self._settle(
                    DeliveryResult(job.alert.key, hook.endpoint, "delivered", attempts, status)
                )
            log.info("webhook %s: alert %s attempt %d: %s", hook.endpoint, job.alert.key,
                     attempts, error)
            if attempt < self.retries and self._cancel.wait(self.backoff_s * 2**attempt):
                break
        if attempts == 0:
            return DeliveryResult(job.alert.key, hook.endpoint, "pending", 0, None,
                                  "not started before the delivery deadline")
        return self._settle(
            DeliveryResult(job.alert.key, hook.endpoint, "failed", attempts, status, error)
        )

    def finish(self, deadline_s: float) -> list[DeliveryResult]:
        """Wait at most ``deadline_s`` for every delivery, then start no new attempt and wait
        for POSTs in flight to settle (one request timeout more); unstarted ones are
        "pending"."""
        futures = [f for _, f in self._futures]
        wait_futures(futures, timeout=max(0.0, deadline_s))
        self._cancel.set()
        for f in futures:
            f.cancel()  # not started yet: stays owed, sent next pass
        wait_futures(futures, timeout=self.timeout_s + SETTLE_MARGIN_S)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        results = []
        for job, fut in self._futures:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                results.append(fut.result())
            else:
                results.append(
                    DeliveryResult(
                        job.alert.key, job.hook.endpoint, "pending", 0, None,
                        f"not settled within the {deadline_s:g} s delivery deadline", stamp,
                    )
                )
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._futures = []
        return results


def pending_jobs(
    alerts: Iterable[Alert],
    hooks_for: Callable[[str], Sequence[WebhookSpec]],
    min_score_for: Callable[[str], float],
    delivered: set[tuple[str, str]],
) -> list[DeliveryJob]:
    """Deliveries still owed: each alert × its facility's webhooks, minus those delivered
    (``delivered`` holds (alert key, endpoint identity) pairs).

    Example:
        >>> pending_jobs([], lambda f: [], lambda f: 0.0, set())
        []
    """
    jobs = []
    for a in sort_alerts(alerts):
        for hook in hooks_for(a.facility_id):
            threshold = hook.min_score if hook.min_score is not None else min_score_for(
                a.facility_id
            )
            if a.score >= threshold and (a.key, hook.endpoint) not in delivered:
                jobs.append(DeliveryJob(a, hook))
    return jobs
