"""Policy spec → the options of the effects layer: drain options, label changes, timeouts in seconds."""

from __future__ import annotations

from collections.abc import Mapping

from reboot_operator.api.common import LabelSelector
from reboot_operator.api.duration import parse_duration
from reboot_operator.api.policy import DrainSpec, NodeLabels
from reboot_operator.kube.drain_types import DrainOptions


def seconds(duration: str) -> float:
    return parse_duration(duration).total_seconds()


def selector_string(selector: LabelSelector | None) -> str:
    """A LabelSelector in the string form list calls take: ``a=b,c in (d,e),!f,g``."""
    if selector is None:
        return ""
    terms = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for requirement in selector.match_expressions:
        operator = str(requirement.operator)
        values = ",".join(sorted(requirement.values))
        if operator == "In":
            terms.append(f"{requirement.key} in ({values})")
        elif operator == "NotIn":
            terms.append(f"{requirement.key} notin ({values})")
        elif operator == "Exists":
            terms.append(requirement.key)
        else:
            terms.append(f"!{requirement.key}")
    return ",".join(terms)


def own_pod(environ: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """The operator's own pod as (namespace, name), from the Downward API variables POD_NAMESPACE and POD_NAME that
    the manifests set; none outside a pod."""
    namespace, name = environ.get("POD_NAMESPACE", ""), environ.get("POD_NAME", "")
    return frozenset({(namespace, name)}) if namespace and name else frozenset()


def drain_options(spec: DrainSpec, *, evict_last: frozenset[tuple[str, str]] = frozenset()) -> DrainOptions:
    timeout = seconds(spec.timeout)
    return DrainOptions(
        evict_last=evict_last,
        force=spec.force,
        delete_emptydir_data=spec.delete_empty_dir_data,
        grace_period_seconds=spec.grace_period_seconds,
        timeout=timeout if timeout > 0 else None,
        pod_selector=selector_string(spec.pod_selector),
        skip_wait_for_delete_timeout=seconds(spec.skip_wait_for_delete_timeout),
    )


def labels_before_reboot(labels: NodeLabels) -> Mapping[str, str | None]:
    """Set the preReboot labels; clear postReboot labels left by an earlier cycle."""
    changes: dict[str, str | None] = {key: None for key in labels.post_reboot if key not in labels.pre_reboot}
    changes.update(labels.pre_reboot)
    return changes


def labels_after_reboot(labels: NodeLabels) -> Mapping[str, str | None]:
    """Remove the preReboot labels, set the postReboot ones."""
    changes: dict[str, str | None] = {key: None for key in labels.pre_reboot}
    changes.update(labels.post_reboot)
    return changes


def labels_given_back(labels: NodeLabels) -> Mapping[str, str | None]:
    """After an aborted attempt: remove the preReboot labels, as if the cycle never started."""
    return {key: None for key in labels.pre_reboot}
