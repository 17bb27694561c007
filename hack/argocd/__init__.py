"""A real Argo CD (application controller and repo server) for the GitOps test, built from its upstream Go module.

``build.py`` compiles Argo CD's one multi-call binary and kustomize into the cache like the control plane's tools;
``server.py`` sets Argo CD up on a running cluster (its CRDs, namespace, settings with rollboot's health checks, the
default project) and runs redis, the repo server and the application controller on loopback.
"""

from hack.argocd.build import ArgoTools, ensure_built
from hack.argocd.server import ArgoCD, ArgoCDError

__all__ = ["ArgoCD", "ArgoCDError", "ArgoTools", "ensure_built"]
