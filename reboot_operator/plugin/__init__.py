"""``kubectl rollboot``: the kubectl plugin for day-2 operations (status, why, pause/resume, skip/now/cancel).

It holds no decision logic: it reads what the operator wrote (the requests' and policies' status) and writes the
controls the operator reads (``api/controls.py``), through the ``kubectl`` it is run by, so it acts with the
caller's own credentials, context and RBAC. ``views`` turns API objects into what is shown (pure), ``kubectl``
runs kubectl, ``cli`` is the command line.
"""
