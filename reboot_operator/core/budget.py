"""The failure budget: after ``maxFailures`` failed nodes a policy halts, until an admin changes
``spec.failureBudget.resetToken`` (a GitOps-friendly reset: a new value in Git, no imperative command).

A reset clears the count and makes failed nodes eligible again; the operator records the token it acted on and
when, so the reset happens once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reboot_operator.core.facts import PolicyFacts


@dataclass(frozen=True, slots=True)
class Budget:
    failures: int
    max_failures: int
    reset_at: datetime | None
    """When the count was last cleared; requests that failed at or before it may start again."""
    resetting: bool
    """The reset token changed: the operator must record ``observed_reset_token`` and ``reset_at`` now."""
    observed_reset_token: str | None

    @property
    def halted(self) -> bool:
        return self.failures >= self.max_failures

    def retries(self, failed_at: datetime | None) -> bool:
        """Whether a request that failed at ``failed_at`` may start again (it failed before the last reset)."""
        return self.reset_at is not None and (failed_at is None or failed_at <= self.reset_at)


def evaluate_budget(policy: PolicyFacts, now: datetime) -> Budget:
    token = policy.spec.failure_budget.reset_token
    max_failures = policy.spec.failure_budget.max_failures
    if token is not None and token != policy.observed_reset_token:
        return Budget(failures=0, max_failures=max_failures, reset_at=now, resetting=True, observed_reset_token=token)
    return Budget(
        failures=policy.failures,
        max_failures=max_failures,
        reset_at=policy.reset_at,
        resetting=False,
        observed_reset_token=policy.observed_reset_token,
    )
