"""HTTP to a CRM that may be slow, throttling or down, without making a caller wait on it.

Every request has a timeout. 429 and 503 honour ``Retry-After`` (bounded), other
5xx and network errors are retried with jittered backoff, other 4xx are not
retried. Nothing sleeps past the caller's budget: :data:`deadline` (set by the
look-up tools) is checked before each wait. A circuit breaker stops calling a
CRM that keeps failing and lets one trial through after a cool-down.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from voicebot.tools.crm.base import CRMError

log = logging.getLogger(__name__)

# Monotonic time (``time.monotonic()``) by which the current look-up must be done.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("crm_deadline", default=None)


class CRMHTTPError(CRMError):
    """The CRM answered with an error; ``retryable`` says whether trying later can help."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = True):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class CircuitOpenError(CRMError):
    """The breaker is open: the CRM failed repeatedly and is being left alone for a while.

    Nothing was sent, so a retrying caller (the outbox) does not count it as an
    attempt and waits ``retry_in`` seconds, until the breaker lets a trial through.
    """

    retryable = True
    counts_as_attempt = False

    def __init__(self, retry_in: float):
        super().__init__(f"circuit open after repeated CRM failures; next trial in {retry_in:.1f}s")
        self.retry_in = retry_in


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; half-open after ``reset_secs``."""

    def __init__(self, failures: int = 5, reset_secs: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.reset_secs = reset_secs
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.reset_secs else "open"

    def before(self) -> None:
        state = self.state
        if state == "open" or (state == "half-open" and self._trial):
            assert self._opened_at is not None
            raise CircuitOpenError(max(0.0, self._opened_at + self.reset_secs - self._clock()))
        if state == "half-open":
            self._trial = True

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        self._failures += 1
        self._trial = False
        if self._failures >= self.threshold or self._opened_at is not None:
            if self._opened_at is None:
                log.warning("circuit opened after %d consecutive CRM failures", self._failures)
            self._opened_at = self._clock()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base_secs: float = 0.1
    backoff_max_secs: float = 2.0
    retry_after_max_secs: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, base * 2^(attempt-1)], capped."""
        return random.uniform(0, min(self.backoff_max_secs, self.backoff_base_secs * 2 ** (attempt - 1)))


def retry_after_secs(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


class Credentials(Protocol):
    """Adds credentials to requests; ``refresh`` is called once after a 401."""

    async def headers(self) -> dict[str, str]: ...

    async def refresh(self, rejected: dict[str, str]) -> bool:
        """Get new credentials; False when refreshing cannot help (static credentials)."""
        ...


class Auth:
    """No credentials, or static ones (a subclass's ``headers``): refreshing cannot help."""

    async def headers(self) -> dict[str, str]:
        return {}

    async def refresh(self, rejected: dict[str, str]) -> bool:
        return False


class ResilientClient:
    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        auth: Credentials | None = None,
        timeout: float = 1.0,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        headers: dict[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.name = name
        self.auth: Credentials = auth or Auth()
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        extra_headers = kwargs.pop("headers", None) or {}
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self.breaker.before()
            auth_headers = await self.auth.headers()
            try:
                response = await self._client.request(method, url, headers={**auth_headers, **extra_headers}, **kwargs)
            except httpx.TimeoutException:
                self.breaker.failure()
                error = CRMHTTPError(f"{self.name}: {method} timed out")
                delay = self.policy.backoff(attempt)
            except httpx.TransportError as exc:
                self.breaker.failure()
                error = CRMHTTPError(f"{self.name}: {method} failed: {type(exc).__name__}")
                delay = self.policy.backoff(attempt)
            else:
                status = response.status_code
                if status < 400:
                    self.breaker.success()
                    return response
                if status == 401 and not refreshed:
                    refreshed = True
                    if await self.auth.refresh(auth_headers):
                        attempt -= 1  # a refreshed token is not a retry
                        continue
                error = CRMHTTPError(
                    f"{self.name}: {method} {response.request.url.path} answered {status}: {_snippet(response)}",
                    status,
                    retryable=status == 429 or status >= 500,
                )
                if not error.retryable:
                    self.breaker.success()  # the CRM is up; the request is wrong
                    raise error
                if status != 429:  # throttling is not ill health
                    self.breaker.failure()
                hinted = retry_after_secs(response) if status in (429, 503) else None
                if hinted is not None and hinted > self.policy.retry_after_max_secs:
                    raise error
                delay = hinted if hinted is not None else self.policy.backoff(attempt)
            if attempt >= self.policy.max_attempts:
                raise error
            limit = deadline.get()
            if limit is not None and time.monotonic() + delay >= limit:
                raise error
            log.info("%s: retrying in %.2fs (%s)", self.name, delay, error)
            await self._sleep(delay)

    async def aclose(self) -> None:
        await self._client.aclose()


def _snippet(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]
