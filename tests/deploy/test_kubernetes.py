"""deploy/kubernetes: the kustomize base and the production overlay, rendered and checked.

No cluster runs here, so every rendered manifest is validated against the Kubernetes 1.31
schemas (kubernetes-validate, strict: unknown fields are errors), and what a schema cannot
say is checked directly: every pod non-root with a read-only root filesystem and no privilege
escalation, probes on /healthz and /readyz, requests and limits, secrets only as files, the
database and Redis reachable only from Quill's pods. Each checker is also shown a broken
manifest, so none of them passes by accident.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.kustomize import KustomizeError, pod_specs, render, strategic_merge

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
TARGETS = {"base": KUBERNETES / "base", "production": KUBERNETES / "overlays" / "production"}
KUBERNETES_VERSION = "1.31.0"
QUILL_APP_COMPONENTS = {"web", "worker", "beat", "intake", "migrate"}  # the pods running Quill's code
LONG_RUNNING = {"web", "proxy", "worker", "beat", "intake"}
SECRET_SETTINGS = {  # settings that must only ever arrive as files
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "QUILL_DATABASE_PASSWORD",
    "QUILL_REDIS_PASSWORD",
    "QUILL_S3_ACCESS_KEY_ID",
    "QUILL_S3_SECRET_ACCESS_KEY",
    "QUILL_FHIR_PASSWORD",
    "QUILL_FHIR_TOKEN",
    "QUILL_EHRBASE_PASSWORD",
}
DB_POD = {"cnpg.io/cluster": "quill-db", "cnpg.io/instanceRole": "primary"}
REDIS_POD = {"app.kubernetes.io/instance": "quill-redis", "app.kubernetes.io/name": "redis"}

Resource = dict[str, Any]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def rendered(request) -> list[Resource]:
    return render(TARGETS[request.param])


@pytest.fixture(scope="module")
def production() -> list[Resource]:
    return render(TARGETS["production"])


def _named(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {resource["metadata"]["name"]: resource for resource in resources if resource["kind"] == kind}


def _workloads(resources: list[Resource]) -> list[Resource]:
    return [resource for resource in resources if pod_specs(resource)]


def _containers(pod: Resource) -> list[Resource]:
    return pod.get("initContainers", []) + pod["containers"]


def _config(resources: list[Resource]) -> dict[str, str]:
    return _named(resources, "ConfigMap")["quill-config"]["data"]


# --- checkers: each returns the problems it found ----------------------------------------------


def schema_problems(resource: Resource) -> list[str]:
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{resource['kind']}/{resource['metadata']['name']}: {error.message} at {list(error.path)}"]
    return []


def security_problems(resource: Resource) -> list[str]:
    problems = []
    name = f"{resource['kind']}/{resource['metadata']['name']}"
    for pod in pod_specs(resource):
        pod_context = pod.get("securityContext", {})
        if pod_context.get("runAsNonRoot") is not True or not pod_context.get("runAsUser"):
            problems.append(f"{name}: pod does not run as a non-root user")
        if pod_context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token")
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            problems.append(f"{name}: shares a host namespace")
        for container in _containers(pod):
            context = container.get("securityContext", {})
            where = f"{name} container {container['name']}"
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation not forbidden")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem writable")
            if context.get("privileged"):
                problems.append(f"{where}: privileged")
            if context.get("capabilities", {}).get("drop") != ["ALL"] or context.get("capabilities", {}).get("add"):
                problems.append(f"{where}: capabilities not all dropped")
            if context.get("runAsUser") == 0:
                problems.append(f"{where}: runs as root")
    return problems


def resource_problems(resource: Resource) -> list[str]:
    problems = []
    for pod in pod_specs(resource):
        for container in _containers(pod):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for quantity in ("cpu", "memory"):
                    if quantity not in resources.get(kind, {}):
                        problems.append(f"{resource['metadata']['name']}/{container['name']}: no {kind}.{quantity}")
    return problems


def probe_problems(resource: Resource, allowed_hosts: list[str]) -> list[str]:
    component = resource["metadata"]["labels"].get("app.kubernetes.io/component")
    if resource["kind"] != "Deployment":
        return []
    problems = []
    container = pod_specs(resource)[0]["containers"][0]
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            problems.append(f"{component}: no {probe}")
    if component == "web":
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            http = container.get(probe, {}).get("httpGet", {})
            headers = {header["name"]: header["value"] for header in http.get("httpHeaders", [])}
            if http.get("path") != path:
                problems.append(f"web: {probe} is not GET {path}")
            if headers.get("Host") not in allowed_hosts:
                problems.append(f"web: {probe} Host {headers.get('Host')!r} is not in DJANGO_ALLOWED_HOSTS")
            if headers.get("X-Forwarded-Proto") != "https":
                problems.append(f"web: {probe} would be answered by the HTTPS redirect")
    return problems


def secret_problems(resource: Resource, config: dict[str, str]) -> list[str]:
    """Secrets reach Quill only as read-only files named by NAME_FILE settings."""
    problems = []
    name = resource["metadata"]["name"]
    for pod in pod_specs(resource):
        secret_volumes = {
            volume["name"]
            for volume in pod.get("volumes", [])
            if "secret" in volume
            or any("secret" in source for source in volume.get("projected", {}).get("sources", []))
        }
        for container in _containers(pod):
            for variable in container.get("env", []):
                if "secretKeyRef" in variable.get("valueFrom", {}):
                    problems.append(f"{name}/{container['name']}: {variable['name']} is a secret in the environment")
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    problems.append(f"{name}/{container['name']}: a whole Secret in the environment")
            uses_config = any(
                source.get("configMapRef", {}).get("name") == "quill-config" for source in container.get("envFrom", [])
            )
            own = {variable["name"]: variable.get("value", "") for variable in container.get("env", [])}
            environment = {**(config if uses_config else {}), **own}
            mounts = [m for m in container.get("volumeMounts", []) if m["name"] in secret_volumes]
            for mount in mounts:
                if mount.get("readOnly") is not True:
                    problems.append(f"{name}/{container['name']}: secrets mounted writable")
            for setting, path in environment.items():
                if setting.endswith("_FILE") and not any(path.startswith(m["mountPath"] + "/") for m in mounts):
                    problems.append(f"{name}/{container['name']}: {setting}={path} is not in a mounted Secret")
    problems += [f"quill-config: {setting} is set in plain text" for setting in SECRET_SETTINGS & set(config)]
    return problems


def _matches(selector: Resource, labels: dict[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, operator = labels.get(expression["key"]), expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and expression["key"] not in labels:
            return False
        if operator == "DoesNotExist" and expression["key"] in labels:
            return False
    return True


def admitted_peers(policies: list[Resource], target: dict[str, str], port: int) -> list[Resource]:
    """The `from` peers that may reach a pod labelled `target` on `port` (None if no policy selects it)."""
    selecting = [policy for policy in policies if _matches(policy["spec"]["podSelector"], target)]
    if not selecting:
        return [{"anything": True}]  # no policy selects the pod: everything may reach it
    peers = []
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = [entry.get("port") for entry in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers.extend(rule.get("from", [{"anything": True}]))
    return peers


def reachability_problems(policies: list[Resource], target: dict[str, str], port: int, own: dict[str, str]) -> list:
    """Problems if anything but Quill's own pods (or the service's own replicas) can reach `target:port`."""
    problems = []
    for peer in admitted_peers(policies, target, port):
        if set(peer) != {"podSelector"}:
            problems.append(f"{target}:{port} reachable from beyond the namespace's pods: {peer}")
            continue
        selector = peer["podSelector"]
        quill = {"app.kubernetes.io/name": "quill", "app.kubernetes.io/part-of": "quill"}
        allowed = [{**quill, "app.kubernetes.io/component": c} for c in QUILL_APP_COMPONENTS] + [own]
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            problems.append(f"{target}:{port} reachable from every pod")
        for stranger in (
            {"app.kubernetes.io/name": "other-app"},
            {**quill, "app.kubernetes.io/component": "proxy"},
            {"app.kubernetes.io/component": "web"},
        ):
            if _matches(selector, stranger):
                problems.append(f"{target}:{port} reachable from {stranger}")
        if not any(_matches(selector, labels) for labels in allowed):
            problems.append(f"{target}:{port}: a rule admits pods that are neither Quill's nor its own: {selector}")
    return problems


# --- the manifests -------------------------------------------------------------------------------


def test_every_manifest_is_valid_kubernetes_1_31(rendered):
    problems = [problem for resource in rendered for problem in schema_problems(resource)]
    assert problems == []
    assert len(rendered) >= 20


def test_the_workloads_are_web_proxy_worker_beat_intake_and_a_migration_job(rendered):
    deployments = _named(rendered, "Deployment")
    assert set(deployments) == LONG_RUNNING
    assert set(_named(rendered, "Job")) == {"migrate"}
    assert _named(rendered, "Job")["migrate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    for singleton in ("beat", "intake"):
        assert deployments[singleton]["spec"]["replicas"] == 1
        assert deployments[singleton]["spec"]["strategy"] == {"type": "Recreate"}
    intake = deployments["intake"]["spec"]["template"]["spec"]["containers"][0]
    assert intake["args"] == ["manage", "run_intake"]
    for name in ("web", "worker", "beat", "intake"):
        init = deployments[name]["spec"]["template"]["spec"]["initContainers"]
        assert [container["name"] for container in init] == ["wait-for-migrations"]


def test_every_pod_is_non_root_with_a_read_only_root_and_no_privilege_escalation(rendered):
    assert [problem for resource in rendered for problem in security_problems(resource)] == []


def test_every_container_has_requests_and_limits(rendered):
    assert [problem for resource in rendered for problem in resource_problems(resource)] == []


def test_liveness_is_healthz_and_readiness_readyz_as_the_clinic_host(rendered):
    hosts = _config(rendered)["DJANGO_ALLOWED_HOSTS"].split(",")
    assert [problem for resource in rendered for problem in probe_problems(resource, hosts)] == []


def test_healthz_and_readyz_are_the_urls_quill_serves():
    from django.urls import resolve

    assert resolve("/healthz").url_name == "healthz"
    assert resolve("/readyz").url_name == "readyz"


def test_secrets_reach_quill_only_as_read_only_files(rendered):
    config = _config(rendered)
    assert [problem for resource in rendered for problem in secret_problems(resource, config)] == []
    file_settings = {name.removesuffix("_FILE") for name in config if name.endswith("_FILE")}
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "QUILL_S3_SECRET_ACCESS_KEY"} <= file_settings


def test_encryption_at_rest_is_asked_for(rendered):
    assert _config(rendered)["QUILL_S3_SSE"] == "AES256"


def test_web_and_worker_autoscale_and_keep_one_pod_through_a_drain(rendered):
    deployments = _named(rendered, "Deployment")
    autoscalers = _named(rendered, "HorizontalPodAutoscaler")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()} == {"web", "worker"}
    for hpa in autoscalers.values():
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    budgets = _named(rendered, "PodDisruptionBudget")
    assert set(budgets) == {"web", "worker", "proxy"}
    for name, budget in budgets.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert _matches(budget["spec"]["selector"], pod_labels)
        assert budget["spec"]["minAvailable"] < deployments[name]["spec"]["replicas"]


def test_the_database_and_redis_are_reachable_only_from_quills_pods(rendered):
    policies = list(_named(rendered, "NetworkPolicy").values())
    assert reachability_problems(policies, DB_POD, 5432, own={"cnpg.io/cluster": "quill-db"}) == []
    assert reachability_problems(policies, REDIS_POD, 6379, own={"app.kubernetes.io/instance": "quill-redis"}) == []
    # and every Quill pod that runs Quill's code is among those admitted
    quill_pods = [
        workload["spec"]["template"]["metadata"]["labels"]
        for workload in _workloads(rendered)
        if workload["metadata"]["labels"]["app.kubernetes.io/component"] in QUILL_APP_COMPONENTS
    ]
    assert len(quill_pods) == len(QUILL_APP_COMPONENTS)
    for target, port in ((DB_POD, 5432), (REDIS_POD, 6379)):
        peers = [peer["podSelector"] for peer in admitted_peers(policies, target, port)]
        assert all(any(_matches(selector, pod) for selector in peers) for pod in quill_pods)


def test_pods_that_listen_on_nothing_admit_nothing(rendered):
    policies = list(_named(rendered, "NetworkPolicy").values())
    for workload in _workloads(rendered):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        if labels["app.kubernetes.io/component"] in {"worker", "beat", "intake", "migrate"}:
            assert admitted_peers(policies, labels, 8000) == [], labels


def test_the_production_overlay_pins_images_and_names_its_namespace(production):
    for resource in production:
        assert resource["metadata"].get("namespace") == "quill", resource["metadata"]["name"]
    for workload in _workloads(production):
        for container in _containers(pod_specs(workload)[0]):
            assert not container["image"].endswith(":latest") and ":" in container["image"], container["image"]
    web = _named(production, "Deployment")["web"]["spec"]["template"]["spec"]
    assert web["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True  # the patch kept the base
    intake = _named(production, "Deployment")["intake"]["spec"]["template"]["spec"]
    assert {"scanner-share", "secrets", "var", "tmp"} == {volume["name"] for volume in intake["volumes"]}


# --- the checkers catch what they are for ------------------------------------------------------


def _broken_web(production: list[Resource], change) -> Resource:
    web = copy.deepcopy(_named(production, "Deployment")["web"])
    change(web["spec"]["template"]["spec"])
    return web


@pytest.mark.parametrize(
    ("change", "checker", "expected"),
    [
        pytest.param(
            lambda pod: pod["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
            "security",
            "root filesystem writable",
            id="writable-root",
        ),
        pytest.param(
            lambda pod: pod["initContainers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            "security",
            "privilege escalation not forbidden",
            id="init-container-escalation",
        ),
        pytest.param(lambda pod: pod["securityContext"].pop("runAsNonRoot"), "security", "non-root", id="root-pod"),
        pytest.param(
            lambda pod: (
                pod["containers"][0]
                .setdefault("env", [])
                .append({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "quill-db-app", "key": "uri"}}})
            ),
            "secrets",
            "secret in the environment",
            id="secret-in-env",
        ),
        pytest.param(
            lambda pod: pod["containers"][0]["volumeMounts"][0].pop("readOnly"),
            "secrets",
            "secrets mounted writable",
            id="writable-secrets",
        ),
        pytest.param(
            lambda pod: pod["containers"][0].pop("readinessProbe"), "probes", "no readinessProbe", id="no-ready"
        ),
        pytest.param(
            lambda pod: pod["containers"][0]["livenessProbe"]["httpGet"]["httpHeaders"].pop(0),
            "probes",
            "is not in DJANGO_ALLOWED_HOSTS",
            id="probe-without-host",
        ),
        pytest.param(
            lambda pod: pod["containers"][0]["resources"].pop("limits"), "resources", "no limits.memory", id="no-limits"
        ),
        pytest.param(
            lambda pod: pod.update(terminationGracePeriodSeconds="40"), "schema", "is not of type", id="schema"
        ),
    ],
)
def test_each_check_finds_a_broken_manifest(production, change, checker, expected):
    web = _broken_web(production, change)
    config = _config(production)
    checkers = {
        "security": lambda: security_problems(web),
        "secrets": lambda: secret_problems(web, config),
        "probes": lambda: probe_problems(web, config["DJANGO_ALLOWED_HOSTS"].split(",")),
        "resources": lambda: resource_problems(web),
        "schema": lambda: schema_problems(web),
    }
    problems = checkers[checker]()
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"from": [{"podSelector": {}}]}, "reachable from every pod", id="any-pod"),
        pytest.param(
            {"from": [{"namespaceSelector": {}}]}, "reachable from beyond the namespace's pods", id="any-namespace"
        ),
        pytest.param({}, "reachable from beyond the namespace's pods", id="no-from"),
        pytest.param(
            {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "quill"}}}]},
            "reachable from {'app.kubernetes.io/name': 'quill', 'app.kubernetes.io/part-of': 'quill', "
            "'app.kubernetes.io/component': 'proxy'}",
            id="the-proxy-too",
        ),
    ],
)
def test_the_reachability_check_finds_an_open_database(production, rule, expected):
    policies = copy.deepcopy(list(_named(production, "NetworkPolicy").values()))
    database = next(policy for policy in policies if policy["metadata"]["name"] == "quill-db-from-quill")
    database["spec"]["ingress"].append({**rule, "ports": [{"port": 5432, "protocol": "TCP"}]})
    problems = reachability_problems(policies, DB_POD, 5432, own={"cnpg.io/cluster": "quill-db"})
    assert any(expected in problem for problem in problems), problems


def test_a_database_no_policy_selects_is_open_to_all(production):
    policies = [
        p for p in _named(production, "NetworkPolicy").values() if p["metadata"]["name"] != "quill-db-from-quill"
    ]
    assert reachability_problems(policies, DB_POD, 5432, own={"cnpg.io/cluster": "quill-db"}) != []


# --- the renderer ----------------------------------------------------------------------------------


def test_strategic_merge_merges_named_lists_and_replaces_the_rest():
    original = {
        "containers": [
            {"name": "web", "image": "a", "args": ["x"], "volumeMounts": [{"mountPath": "/a", "name": "a"}]}
        ],
        "tolerations": [{"key": "one"}],
    }
    patch = {
        "containers": [{"name": "web", "args": ["y"], "volumeMounts": [{"mountPath": "/b", "name": "b"}]}],
        "tolerations": [{"key": "two"}],
    }
    assert strategic_merge(original, patch) == {
        "containers": [
            {
                "name": "web",
                "image": "a",
                "args": ["y"],
                "volumeMounts": [{"mountPath": "/b", "name": "b"}, {"mountPath": "/a", "name": "a"}],
            }
        ],
        "tolerations": [{"key": "two"}],
    }


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed: the renderer is not cross-checked")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_renderer_agrees_with_kubectl_kustomize(target):
    output = subprocess.run(
        ["kubectl", "kustomize", str(TARGETS[target])], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    theirs = sorted(json.dumps(document, sort_keys=True) for document in yaml.safe_load_all(output) if document)
    mine = sorted(json.dumps(document, sort_keys=True) for document in render(TARGETS[target]))
    assert mine == theirs


def test_production_config_passes_quills_own_start_up_checks(production, tmp_path):
    """The overlay's settings, with its secret files, are what Quill's production start-up accepts."""
    from tests.test_settings import _manage

    secret_files = {
        "django-secret-key": "k8s-" + "x" * 60,
        # CloudNativePG's `uri` key for the cluster quill-db, database and user `app`.
        "database-url": "postgresql://app:app-password@quill-db-rw.quill.svc:5432/app",
        "redis-password": "redis-password-from-the-chart",
        "s3-access-key-id": "quill",
        "s3-secret-access-key": "s3-secret-from-the-secret",
        "postgres-ca.crt": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    }
    for name, value in secret_files.items():
        (tmp_path / name).write_text(value)
    # The pod's mounts (the secrets volume, the `var` emptyDir) are this test's temporary folder.
    environment = {
        key: value.replace("/run/secrets/quill/", f"{tmp_path}/").replace("/app/var", str(tmp_path))
        for key, value in _config(production).items()
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=environment, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
