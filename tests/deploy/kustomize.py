"""A small kustomize for tests: renders deploy/kubernetes without the kustomize binary.

It does only what Quill's kustomizations use — `resources` (files and directories),
`namespace`, `images` and `patches` given as strategic-merge patch files — and refuses
any other field, so a kustomization that outgrows it fails loudly instead of rendering
something kustomize would not. Strategic merge follows Kubernetes' merge keys for the
lists Quill patches (containers, volumes and mounts by name or path, env by name); every
other list is replaced, as kustomize does for lists without a merge key. Checked against
`kubectl kustomize` (kustomize v5.5) where kubectl is installed (tests/deploy/test_kubernetes.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
# Kubernetes' patchMergeKey for the lists that appear in Quill's patches.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}

Resource = dict[str, Any]


class KustomizeError(Exception):
    pass


def render(directory: Path) -> list[Resource]:
    """The resources `kubectl kustomize directory` would print (same content; order not kept)."""
    kustomization = _load_one(directory / "kustomization.yaml")
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise KustomizeError(f"{directory}: fields this renderer does not implement: {sorted(unsupported)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources.extend(render(path) if path.is_dir() else _load_all(path))
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{directory}: only `patches: - path: FILE` is implemented, not {patch}")
        for document in _load_all(directory / patch["path"]):
            target = _same_api_version(_find(resources, document), document)
            merged = strategic_merge(target, document)
            target.clear()
            target.update(merged)
    for image in kustomization.get("images", []):
        for resource in resources:
            _set_image(resource, image)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED_KINDS:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:
    """`patch` merged into `original` by Kubernetes' strategic-merge rules (the subset above)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = dict(original)
        for key, value in patch.items():
            merged[key] = strategic_merge(original[key], value, key) if key in original else copy.deepcopy(value)
        return merged
    if isinstance(original, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged_list = list(original)
        added = []
        for item in patch:
            position = next((i for i, existing in enumerate(merged_list) if existing.get(key) == item.get(key)), None)
            if position is None:
                added.append(copy.deepcopy(item))
            else:
                merged_list[position] = strategic_merge(merged_list[position], item)
        return added + merged_list  # kustomize puts new items first
    return copy.deepcopy(patch)


def pod_specs(resource: Resource) -> list[Resource]:
    """The pod spec(s) inside a workload resource (none for other kinds)."""
    spec = resource.get("spec", {})
    if resource["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if "template" in spec and "spec" in spec["template"]:
        return [spec["template"]["spec"]]
    return []


def _load_all(path: Path) -> list[Resource]:
    with path.open() as handle:
        return [document for document in yaml.safe_load_all(handle) if document]


def _load_one(path: Path) -> Resource:
    documents = _load_all(path)
    if len(documents) != 1:
        raise KustomizeError(f"{path}: expected one document, found {len(documents)}")
    return documents[0]


def _find(resources: list[Resource], patch: Resource) -> Resource:
    matches = [
        resource
        for resource in resources
        if resource["kind"] == patch["kind"] and resource["metadata"]["name"] == patch["metadata"]["name"]
    ]
    if len(matches) != 1:
        raise KustomizeError(f"patch for {patch['kind']}/{patch['metadata']['name']} matches {len(matches)} resources")
    return matches[0]


def _same_api_version(target: Resource, patch: Resource) -> Resource:
    if target.get("apiVersion") != patch.get("apiVersion"):
        raise KustomizeError(f"patch apiVersion {patch.get('apiVersion')} differs from {target.get('apiVersion')}")
    return target


def _image_name(reference: str) -> str:
    without_digest = reference.split("@", 1)[0]
    last_part = without_digest.rsplit("/", 1)[-1]
    if ":" in last_part:
        return without_digest[: len(without_digest) - len(last_part)] + last_part.split(":", 1)[0]
    return without_digest


def _set_image(resource: Resource, image: dict[str, str]) -> None:
    for pod in pod_specs(resource):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            if _image_name(container["image"]) == image["name"]:
                name = image.get("newName", image["name"])
                container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name
