"""docker-compose.yml cannot run on these machines (no Docker engine), so it is checked here.

Parsed with PyYAML (anchors and merge keys resolved as compose does): every QUILL_/DJANGO_
variable it sets is one quill/settings.py reads, every service Quill's settings point at is
present, every service has a healthcheck, no database port is published, data lives in
named volumes, one `.env` feeds everything, and the resulting environment passes Django's
production checks.
"""

from __future__ import annotations

import ast
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_ENV_EXAMPLE = ROOT / "docker" / "compose.env.example"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "quill" / "settings.py"
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_float", "env_list", "env_choice", "read_secret"}
SECRETS_DIR = "/run/secrets/"
QUILL_SERVICES = ("migrate", "web", "worker", "beat", "intake")
DATA_SERVICES = {  # service -> where its state lives inside the container
    "db": "/var/lib/postgresql/data",
    "fhir-db": "/var/lib/postgresql/data",
    "ehrbase-db": "/var/lib/postgresql/data",
    "redis": "/data",
    "s3": "/data",
    "minio": "/data",
    "clamav": "/var/lib/clamav",
}
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# --- helpers -------------------------------------------------------------------------------------


def settings_variables(source: str) -> set[str]:
    """Names passed to env_* helpers in settings source (the variables Quill reads)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ENV_HELPERS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
            if node.func.id == "read_secret":
                names.add(f"{node.args[0].value}_FILE")
    return names


def env_file_variables(text: str, *, include_commented: bool = True) -> dict[str, str]:
    """NAME=value lines of an env file; commented-out `# NAME=value` examples too if asked."""
    found = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            if not include_commented:
                continue
            line = line.lstrip("#").strip()
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).split("  #")[0].strip()
    return found


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def replace(match: re.Match) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = variables.get(name)
        if op in (":-", "-"):
            missing = current is None or (op == ":-" and current == "")
            return arg if missing else current
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _INTERPOLATION.sub(replace, value).replace("$$", "$")


def quill_variables_set(compose: dict, env_texts: list[str]) -> set[str]:
    names = set()
    for service in compose["services"].values():
        names |= set(environment_of(service))
    for text in env_texts:
        names |= set(env_file_variables(text))
    return {name for name in names if name.startswith(("QUILL_", "DJANGO_"))}


def unknown_variables(compose: dict, env_texts: list[str], settings_source: str) -> set[str]:
    return quill_variables_set(compose, env_texts) - settings_variables(settings_source)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    """The compose .env example with every required secret filled, as an operator would."""
    values = env_file_variables(COMPOSE_ENV_EXAMPLE.read_text(), include_commented=False)
    for name, value in list(values.items()):
        if value == "":
            values[name] = f"filled-{name.lower().replace('_', '-')}-" + "x" * 50
    return values


def quill_container_env(services: dict, example_env: dict[str, str], secrets_dir: Path | None = None) -> dict[str, str]:
    """What a Quill container sees: env_file, then its environment block (which wins).

    With `secrets_dir`, each /run/secrets/<name> file is made there (a random value, as
    docker/make-secrets.sh does) and the _FILE variables point at it.
    """
    merged = dict(example_env)
    for name, value in environment_of(services["web"]).items():
        merged[name] = interpolate(value, example_env)
        if secrets_dir is not None and name.endswith("_FILE") and merged[name].startswith(SECRETS_DIR):
            path = secrets_dir / merged[name].removeprefix(SECRETS_DIR)
            path.write_text(f"filled-{path.name}-" + "x" * 50 + "\n")
            merged[name] = str(path)
    return merged


# --- the checks ----------------------------------------------------------------------------------


def test_every_quill_variable_set_is_one_the_settings_read(compose):
    texts = [COMPOSE_ENV_EXAMPLE.read_text(), ENV_EXAMPLE.read_text()]
    assert quill_variables_set(compose, texts), "nothing found: the parser is broken"
    assert unknown_variables(compose, texts, SETTINGS.read_text()) == set()


def test_the_variable_check_catches_a_name_the_settings_do_not_read(compose):
    misspelt = {"services": {"web": {"environment": {"QUILL_CLAMD_HOSTNAME": "clamav"}}}}
    assert unknown_variables(misspelt, ["DJANGO_SECRETKEY=x\n"], SETTINGS.read_text()) == {
        "QUILL_CLAMD_HOSTNAME",
        "DJANGO_SECRETKEY",
    }
    assert "QUILL_CLAMD_HOST" in settings_variables(SETTINGS.read_text())


def test_every_service_the_settings_need_is_present_and_wired(services, example_env):
    env = quill_container_env(services, example_env)
    assert env["QUILL_ENV"] == "production"
    targets = {
        "DATABASE_URL": "db",
        "QUILL_REDIS_URL": "redis",
        "QUILL_S3_ENDPOINT_URL": "s3",
        "QUILL_FHIR_BASE_URL": "fhir",
        "QUILL_EHRBASE_URL": "ehrbase",
    }
    for variable, service in targets.items():
        assert urlsplit(env[variable]).hostname == service, variable
        assert service in services, f"{variable} points at {service}, which is not in the compose file"
    assert env["QUILL_CLAMD_HOST"] == "clamav" and "clamav" in services
    assert env["QUILL_CLAMD_PORT"] == "3310" and not env.get("QUILL_CLAMD_SOCKET")
    assert env["QUILL_STORAGE"] == "s3" and env["QUILL_SCANNER"] == "clamd"
    assert urlsplit(env["DATABASE_URL"]).scheme == "postgres"
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert "seaweedfs" in services["s3"]["image"]
    assert services["clamav"]["image"].startswith("clamav/clamav:")
    assert services["fhir"]["image"].startswith("hapiproject/hapi:")
    assert services["ehrbase"]["image"].startswith("ehrbase/ehrbase:")
    ehrbase_db = urlsplit(environment_of(services["ehrbase"])["DB_URL"].removeprefix("jdbc:")).hostname
    assert ehrbase_db == "ehrbase-db" and ehrbase_db != "db", "EHRbase has its own PostgreSQL"
    assert services["minio"]["profiles"] == ["minio"], "MinIO is the alternative, behind a profile"


def test_quill_services_use_the_image_roles_and_start_after_migrate(services):
    for name in QUILL_SERVICES:
        service = services[name]
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["command"] == [name]
        assert service["environment"] == services["web"]["environment"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        for dependency in ("redis", "s3", "clamav"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    entrypoint = (ROOT / "docker" / "entrypoint.sh").read_text()
    for role in (*QUILL_SERVICES, "manage"):
        assert re.search(rf"^\s+{role}\)", entrypoint, re.MULTILINE), role


def test_every_service_has_a_healthcheck(services):
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert check["test"] and check["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_no_database_or_internal_port_is_published(services):
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert set(published) == {"proxy"}, f"only the proxy may publish a port: {published}"
    (mapping,) = published["proxy"]
    assert mapping.startswith("${WEB_BIND_ADDRESS:-127.0.0.1}:"), "bind to loopback unless told otherwise"
    for name, service in services.items():
        if "postgres" in service.get("image", ""):
            assert "ports" not in service, name


def test_state_lives_in_named_volumes_and_bind_mounts_are_read_only(compose, services):
    declared = set(compose["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source, _target, *mode = mount.split(":")
            if source.startswith((".", "/")):
                assert mode == ["ro"], f"{name}: bind mount {mount} must be read-only"
                assert (ROOT / source).is_file(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
    for name, data_dir in DATA_SERVICES.items():
        named = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"] if not m.startswith((".", "/"))}
        assert data_dir in named, f"{name} keeps {data_dir} outside a named volume"
    used = {m.split(":")[0] for s in services.values() for m in s.get("volumes", [])}
    assert declared <= used, f"declared but unused volumes: {declared - used}"


def test_one_env_file_feeds_every_quill_container(services):
    files = {name: service.get("env_file") for name, service in services.items() if service.get("env_file")}
    assert set(files) == set(QUILL_SERVICES)
    assert set(map(str, files.values())) == {".env"}
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split(), "secrets must stay out of the image"


def test_every_value_interpolates_with_the_example(compose, example_env):
    required = {m.group("name") for m in _INTERPOLATION.finditer(COMPOSE.read_text()) if m.group("op") in (":?", "?")}
    blank = env_file_variables(COMPOSE_ENV_EXAMPLE.read_text(), include_commented=False)
    assert required <= set(blank), f"not in docker/compose.env.example: {required - set(blank)}"
    for service in compose["services"].values():
        for value in environment_of(service).values():
            interpolate(value, example_env)


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY($|_)|ACCESS_KEY", re.IGNORECASE)


def test_secrets_are_compose_secrets_never_variables(compose, services):
    # no secret is set in an environment block or in the compose .env example ...
    for name, service in services.items():
        for variable, value in environment_of(service).items():
            if _SECRET_NAME.search(variable):
                assert variable.endswith("_FILE") and value.startswith(SECRETS_DIR), f"{name}: {variable}={value}"
            assert not re.search(r"://[^/@\s]*:[^@\s]+@", value), f"{name}: {variable} has a password in its URL"
    example = env_file_variables(COMPOSE_ENV_EXAMPLE.read_text())
    assert not [variable for variable in example if _SECRET_NAME.search(variable)]
    # ... every secret a service mounts is declared, made by make-secrets.sh, and kept out of git and the image
    declared = compose["secrets"]
    maker = (ROOT / "docker" / "make-secrets.sh").read_text()
    for name, secret in declared.items():
        assert secret["file"] == f"./secrets/{name}"
        assert f"secrets/{name}" in maker or re.search(rf"\b{name}\b", maker), name
    mounted = set()
    for service in services.values():
        for entry in service.get("secrets", []):
            mounted.add(entry if isinstance(entry, str) else entry["source"])
    assert mounted == set(declared), "a declared secret is unused or a used one undeclared"
    quill_files = {value for value in environment_of(services["web"]).values() if value.startswith(SECRETS_DIR)}
    assert {path.removeprefix(SECRETS_DIR) for path in quill_files} <= set(services["web"]["secrets"])
    assert "/secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()


def test_dockerfile_builds_a_non_root_gunicorn_image():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim AS app$", dockerfile, re.MULTILINE)
    assert "COPY requirements/base.lock requirements/base.lock" in dockerfile
    assert "pip install --no-compile --require-hashes -r requirements/base.lock" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "\ngunicorn==" in (ROOT / "requirements" / "base.lock").read_text()
    assert os.stat(ROOT / "docker" / "entrypoint.sh").st_mode & stat.S_IXUSR
    assert "quill.wsgi:application" in (ROOT / "docker" / "entrypoint.sh").read_text()


@pytest.mark.slow
def test_the_compose_environment_passes_the_production_checks(services, example_env, tmp_path):
    # given exactly what the web container would get, with secrets filled in
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QUILL_", "DJANGO_", "DATABASE"))}
    (tmp_path / "secrets").mkdir()
    env.update(quill_container_env(services, example_env, tmp_path / "secrets"))
    # (the upload spool is a folder of the image's var volume, which exists only in the container)
    assert env["QUILL_UPLOAD_TEMP_DIR"].startswith("/app/var/")
    env["QUILL_UPLOAD_TEMP_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "quill.settings"
    # when Django loads the settings and runs the deployment checks (no database needed)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then production mode accepts it
    assert result.returncode == 0, result.stdout + result.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.QUILL_STORAGE, s.QUILL_SCANNER, s.CELERY_BROKER_URL.split('@')[-1], s.PRODUCTION)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.split() == ["s3", "clamd", "redis:6379/0", "True"], probe.stderr
