"""The central brain: one loop that decides who reboots when, and carries the decisions out.

- ``loop.py``: when to decide (wake, coalesce, timing) and one pass; the ``Coordinator`` the handlers start;
- ``apply.py``: carrying out a pass's decisions (claims, waiting messages, cancels, clean-ups, policy statuses,
  an admin's controls);
- ``supervise.py``: the reboot cycles' tasks, restarted after an error, and cordons nobody owns;
- ``writer.py``: the coalescing status writer;
- ``unseen.py``: what the coordinator knows before the watch shows it (its own writes, queue times).
"""

from reboot_operator.coordinator.loop import Coordinator, State

__all__ = ["Coordinator", "State"]
