"""Notifications: telling people what the operator does, through apprise (Slack, Teams, e-mail, webhooks…).

A policy subscribes to lifecycle events (``spec.notifications[].events``: Started, Rebooting, Completed, Failed,
Halted, Blocked) with apprise URLs kept in Secrets. ``message.py`` turns an event into words (pure);
``sender.py`` delivers them in the background: a bounded queue, a worker, a few retries with backoff. A
notification that cannot be delivered is logged and dropped; it never blocks or slows a reboot. ``failures.py``
tells an SRE about it: a Warning Event on the policy, once per distinct failure.
"""

from __future__ import annotations

from reboot_operator.notify.failures import NotificationFailure, policy_events
from reboot_operator.notify.message import Notice, render
from reboot_operator.notify.sender import AppriseSender, Notifier, Sender

__all__ = ["AppriseSender", "Notice", "NotificationFailure", "Notifier", "Sender", "policy_events", "render"]
