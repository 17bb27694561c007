"""One node's reboot cycle and what it tells people: the phase steps (``cycle``, ``starting``, ``returning``), the
hand-back of a node whose cycle ends early (``handback``), drain progress (``drain_progress``), the Events,
notifications and metrics of a cycle (``telling``), the policy's slots (``slots``), an admin's per-node controls
(``interventions``) and what the coordinator's changes tell (``announce``).

Imports watch-level modules and below; never the coordinator (what a cycle needs of it is ``world.World``).
"""
