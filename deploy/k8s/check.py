"""`make k8s-check`: renders every kustomization, validates it offline, checks it against the code.

Three steps per kustomization: `kustomize build`; kubeconform against the Kubernetes JSON schemas
(and our own schemas of the CRDs we use, in `crd-schemas/`); then the rules below, which read the
services' settings classes, topic names and metrics, so that a manifest cannot drift from the code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from shared.runtime import KafkaUsage
from shared.settings import settings_groups, variable_names
from shared.topics import PREFIX_MARK

K8S_DIR = Path(__file__).resolve().parent
REPO_ROOT = K8S_DIR.parents[1]
KUSTOMIZATIONS = ("overlays/dev", "overlays/prod", "examples")
CRD_SCHEMAS = K8S_DIR / "crd-schemas"

Resource = dict[str, Any]
SettingsFor = Callable[[str], type[BaseModel]]
MetricsFor = Callable[[Iterable[str]], set[str]]
UsageFor = Callable[[str], KafkaUsage]
PathsFor = Callable[[str], frozenset[str]]

LISTEN_EVERYWHERE = ("0.0.0.0", "::")  # noqa: S104 (a pod must answer its probes and peers)
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"


# --- What a service's settings read ---------------------------------------------------------


@dataclass(frozen=True)
class SettingVar:
    """One environment variable a settings class reads."""

    name: str
    component: type[BaseSettings]
    field: str
    required: bool


def settings_variables(settings: type[BaseModel]) -> dict[str, SettingVar]:
    """The variables (upper case) that `settings` reads: each `BaseSettings` component's fields."""
    return {
        env_name: SettingVar(env_name, component, name, info.is_required())
        for component in settings_groups(settings).values()
        for name, info in component.model_fields.items()
        for env_name in variable_names(component, name)
    }


_DIRECT_READ = re.compile(r"""os\.(?:environ\.get\(|getenv\(|environ\[)\s*["']([A-Z0-9_]+)["']""")


def process_variables(roots: Iterable[Path]) -> set[str]:
    """Variables the code reads straight from the environment, outside the settings classes
    (`LOG_LEVEL` in shared/logs.py): a Deployment may set those too."""
    return {
        match.group(1)
        for root in roots
        for source in sorted(root.rglob("*.py"))
        for match in _DIRECT_READ.finditer(source.read_text())
    }


def import_settings(service: str) -> type[BaseModel]:
    """`services.<service>.config.Settings`."""
    module = importlib.import_module(f"services.{service}.config")
    settings = module.Settings
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        raise TypeError(f"services.{service}.config.Settings is not a pydantic model")
    return settings


def exposed_metric_names(services: Iterable[str]) -> set[str]:
    """Every series name `/metrics` can show: the shared metrics and each service's own."""
    from prometheus_client import REGISTRY

    importlib.import_module("shared.metrics")
    for service in services:
        importlib.import_module(f"services.{service}.metrics")
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names = {"up"}  # set by Prometheus for every target
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


# --- Reading rendered resources ------------------------------------------------------------


@dataclass(frozen=True)
class EnvSource:
    """Where a container's variable comes from; `value` is known for literals and ConfigMaps."""

    kind: str  # value | configmap | secret | field | resource
    origin: str
    value: str | None = None


@dataclass
class Report:
    """Problems found in one rendered kustomization."""

    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str) -> None:
        self.problems.append(f"{self.name}: {where}: {problem}")


def _key(resource: Resource) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def _of_kind(resources: Iterable[Resource], kind: str) -> list[Resource]:
    return [resource for resource in resources if resource.get("kind") == kind]


def _namespace(resource: Resource) -> str:
    return str(resource.get("metadata", {}).get("namespace") or "")


def container_env(
    container: Mapping[str, Any], namespace: str, resources: list[Resource], report: Report
) -> dict[str, EnvSource]:
    """The variables a container sets, with ConfigMaps resolved from the rendered resources."""
    where = f"container {container.get('name')}"
    config_maps = {
        (_namespace(cm), cm["metadata"]["name"]): cm for cm in _of_kind(resources, "ConfigMap")
    }
    env: dict[str, EnvSource] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            config_map = config_maps.get((namespace, name))
            if config_map is None:
                report.add(where, f"envFrom ConfigMap {name} is not among the rendered resources")
                continue
            for key, value in (config_map.get("data") or {}).items():
                env[prefix + key] = EnvSource("configmap", name, str(value))
        elif "secretRef" in source:
            report.add(
                where,
                f"envFrom Secret {source['secretRef'].get('name')} hides which variables it sets;"
                " use env[].valueFrom.secretKeyRef",
            )
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = EnvSource("value", "value", str(item["value"]))
            continue
        value_from = item.get("valueFrom") or {}
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            env[name] = EnvSource("secret", f"{ref.get('name')}/{ref.get('key')}")
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            config_map = config_maps.get((namespace, ref.get("name")))
            data = (config_map or {}).get("data") or {}
            if ref.get("key") not in data:
                report.add(
                    where, f"{name}: ConfigMap key {ref.get('name')}/{ref.get('key')} missing"
                )
            env[name] = EnvSource(
                "configmap",
                str(ref.get("name")),
                str(data[ref["key"]]) if ref["key"] in data else None,
            )
        elif "fieldRef" in value_from:
            env[name] = EnvSource("field", str(value_from["fieldRef"].get("fieldPath")))
        else:
            env[name] = EnvSource("resource", "resourceFieldRef")
    return env


def service_of(container: Mapping[str, Any]) -> str | None:
    """`order` for a container running `python -m services.order`."""
    words = [*(container.get("command") or []), *(container.get("args") or [])]
    for word in words:
        match = re.fullmatch(r"services\.([a-z_]+)", str(word))
        if match:
            return match.group(1)
    return None


# --- The rules -----------------------------------------------------------------------------


def check_pod_hardening(deployment: Resource, report: Report) -> None:
    """Probes, requests and limits, and the restricted security context on every container."""
    where = _key(deployment)
    pod = deployment["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext") or {}
    for container in pod.get("containers") or []:
        cwhere = f"{where} container {container.get('name')}"
        security = container.get("securityContext") or {}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe not in container:
                report.add(cwhere, f"no {probe}")
        paths = {
            "readinessProbe": READINESS_PATH,
            "livenessProbe": LIVENESS_PATH,
        }
        for probe, path in paths.items():
            got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if probe in container and got != path:
                report.add(cwhere, f"{probe} must GET {path}, not {got}")
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(bound) or {}):
                    report.add(cwhere, f"no {resource} {bound[:-1]}")
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            report.add(cwhere, "runAsNonRoot is not true")
        if security.get("readOnlyRootFilesystem") is not True:
            report.add(cwhere, "readOnlyRootFilesystem is not true")
        if security.get("allowPrivilegeEscalation") is not False:
            report.add(cwhere, "allowPrivilegeEscalation is not false")
        if security.get("privileged"):
            report.add(cwhere, "privileged")
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            report.add(cwhere, "capabilities do not drop ALL")
        seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get(
            "type"
        )
        if seccomp not in ("RuntimeDefault", "Localhost"):
            report.add(cwhere, "seccompProfile is not RuntimeDefault")


def check_service_settings(
    deployment: Resource, resources: list[Resource], settings_for: SettingsFor, report: Report
) -> None:
    """Every variable set is read by the service's settings; every required one is set; the
    literal values validate; the service listens where its probes and ports look."""
    where = _key(deployment)
    pod = deployment["spec"]["template"]["spec"]
    for container in pod.get("containers") or []:
        cwhere = f"{where} container {container.get('name')}"
        service = service_of(container)
        if service is None:
            report.add(cwhere, "command does not run `python -m services.<name>`")
            continue
        try:
            settings = settings_for(service)
        except ImportError as error:
            report.add(cwhere, f"services.{service}.config cannot be imported ({error})")
            continue
        readable = settings_variables(settings)
        direct = process_variables([REPO_ROOT / "shared", REPO_ROOT / "services" / service])
        env = container_env(container, _namespace(deployment), resources, report)
        report.notes.append(f"{where}: " + ", ".join(_describe(name, env[name]) for name in env))
        for name in env:
            if name.upper() not in readable and name not in direct:
                report.add(cwhere, f"{name} is set but services.{service} settings never read it")
        provided = {name.upper() for name in env}
        for variable in readable.values():
            if variable.required and variable.name not in provided:
                report.add(cwhere, f"required setting {variable.name} is not provided")
        literals = {name: source.value for name, source in env.items() if source.value is not None}
        secrets = [name for name, source in env.items() if source.value is None]
        for problem in validate_literals(readable, literals, secrets):
            report.add(cwhere, problem)
        _check_listener(container, literals, cwhere, report)
        _check_grace(pod, container, readable, literals, cwhere, report)


def _describe(name: str, source: EnvSource) -> str:
    if source.kind == "value":
        return f"{name}={source.value}"
    if source.value is not None:
        return f"{name}={source.value} ({source.kind} {source.origin})"
    return f"{name} ({source.kind} {source.origin})"


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


SECRET_STAND_IN = "value-of-a-secret"  # noqa: S105 (a stand-in, not a secret)


def validate_literals(
    readable: Mapping[str, SettingVar],
    literals: Mapping[str, str],
    unknown: Iterable[str] = (),
) -> list[str]:
    """Builds each settings component from the literal values, the `unknown` ones (Secrets) set
    to a stand-in whose own errors are not reported, and returns what does not validate."""
    problems: list[str] = []
    components = {variable.component for variable in readable.values()}
    hidden = {name.upper() for name in unknown}
    stand_ins = dict.fromkeys(hidden, SECRET_STAND_IN)
    with _environment(stand_ins | dict(literals)):
        for component in sorted(components, key=lambda cls: cls.__name__):
            try:
                component()
            except ValidationError as error:
                for detail in error.errors():
                    field = str(detail["loc"][0]) if detail["loc"] else ""
                    secret = field in component.model_fields and any(
                        name in hidden for name in variable_names(component, field)
                    )
                    if detail["type"] == "missing" or secret:
                        continue
                    problems.append(
                        f"{component.__name__}.{'.'.join(str(part) for part in detail['loc'])}: "
                        f"{detail['msg']}"
                    )
    return problems


def _check_listener(
    container: Mapping[str, Any], literals: Mapping[str, str], where: str, report: Report
) -> None:
    ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
    if "http" not in ports:
        report.add(where, "no container port named http")
        return
    if literals.get("HTTP_PORT") != str(ports["http"]):
        report.add(
            where, f"HTTP_PORT {literals.get('HTTP_PORT')} is not the http port {ports['http']}"
        )
    if literals.get("HTTP_HOST") not in LISTEN_EVERYWHERE:
        report.add(where, f"HTTP_HOST {literals.get('HTTP_HOST')} hides the listener from probes")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
        if port is not None and port not in ("http", ports["http"]):
            report.add(where, f"{probe} probes port {port}, not the http port")


def _prestop_sleep_s(container: Mapping[str, Any]) -> float:
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"].get("seconds", 0))
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0] == "sleep":
        return float(command[1])
    return 0.0


def _check_grace(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    readable: Mapping[str, SettingVar],
    literals: Mapping[str, str],
    where: str,
    report: Report,
) -> None:
    """The grace period covers the preStop sleep plus the longest handler a consumer finishes."""
    if not (container.get("lifecycle") or {}).get("preStop"):
        report.add(where, "no preStop hook (endpoints may still send traffic after SIGTERM)")
    window = 0.0
    variable = readable.get("CONSUMER_TRANSIENT_MAX_ELAPSED_S")
    if variable is not None:
        default = variable.component.model_fields[variable.field].default
        window = float(literals.get(variable.name, default))
    needed = _prestop_sleep_s(container) + window + 10
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < needed:
        report.add(where, f"terminationGracePeriodSeconds {grace} < {needed:g} needed to drain")


def check_wiring(resources: list[Resource], report: Report) -> None:
    """Services, HPAs and PDBs point at Deployments that exist; a default-deny policy exists."""
    deployments = _of_kind(resources, "Deployment")

    def selected(selector: Mapping[str, str]) -> list[Resource]:
        return [
            deployment
            for deployment in deployments
            if selector
            and selector.items()
            <= (deployment["spec"]["template"]["metadata"].get("labels") or {}).items()
        ]

    for service in _of_kind(resources, "Service"):
        targets = selected(service["spec"].get("selector") or {})
        if not targets:
            report.add(_key(service), "selects no Deployment")
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for deployment in targets:
                names = {
                    p.get("name") if isinstance(target, str) else p.get("containerPort")
                    for c in deployment["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports") or []
                }
                if target not in names:
                    report.add(
                        _key(service), f"targetPort {target} is not a port of {_key(deployment)}"
                    )
    for pdb in _of_kind(resources, "PodDisruptionBudget"):
        if not selected(pdb["spec"].get("selector", {}).get("matchLabels") or {}):
            report.add(_key(pdb), "selects no Deployment")
    names = {deployment["metadata"]["name"] for deployment in deployments}
    for scaled in _of_kind(resources, "ScaledObject"):
        target = scaled["spec"]["scaleTargetRef"]
        kind = target.get("kind", "Deployment")
        if kind != "Deployment" or target.get("name") not in names:
            report.add(_key(scaled), f"scales {kind}/{target.get('name')}, not a Deployment here")
    for hpa in _of_kind(resources, "HorizontalPodAutoscaler"):
        report.add(_key(hpa), "the services wait on I/O: scale on consumer lag (ScaledObject)")
    if deployments and not any(
        policy["spec"].get("podSelector") in ({}, None)
        and set(policy["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
        for policy in _of_kind(resources, "NetworkPolicy")
    ):
        report.add(
            "NetworkPolicy", "no default-deny policy (all pods, Ingress and Egress, no rule)"
        )


PAYMENT_PATHS = {
    "/webhooks/asaas/": "Asaas cannot deliver webhooks",
    "/pix/": "WhatsApp cannot fetch the PIX QR images",
}
"""The payment service's public paths, and what breaks when one is not routed."""
TLS_LISTENER = "https"
ROOT = "/"


def public_paths(paths_for: PathsFor) -> dict[str, dict[str, str]]:
    """What each service exposes through the Gateway, by path, and what breaks when a path is
    not routed: the payment service's webhooks and PIX images, the panel's pages (read off its
    app)."""
    panel = {path: f"restaurants cannot reach the panel's {path}" for path in paths_for("panel")}
    return {"payment": PAYMENT_PATHS, "panel": panel}


def _opens_only(path: Mapping[str, Any], public: Iterable[str]) -> bool:
    """Whether a route's path match opens one public path and nothing beside it: `/` only as
    Exact (as a prefix it is everything), any other as Exact or PathPrefix."""
    kind, value = path.get("type", "PathPrefix"), path.get("value", ROOT)
    return value in public and (kind == "Exact" or (kind == "PathPrefix" and value != ROOT))


def _listed(paths: Iterable[str]) -> str:
    return ", ".join(f"{path} (Exact)" if path == ROOT else path for path in sorted(paths))


def check_http_routes(resources: list[Resource], paths_for: PathsFor, report: Report) -> None:
    """Exactly the public paths of each service (`public_paths`) are routed, through a Gateway's
    TLS listener; PUBLIC_BASE_URL is on a payment route's host; no Ingress (ingress-nginx is
    retired)."""
    for ingress in _of_kind(resources, "Ingress"):
        report.add(_key(ingress), "ingress-nginx is retired: expose HTTP with an HTTPRoute")
    routes = _of_kind(resources, "HTTPRoute")
    public = public_paths(paths_for) if routes else {}  # the panel's app is built only if asked
    payment_hosts: set[str] = set()
    routed: set[tuple[str, str]] = set()
    for route in routes:
        spec = route["spec"]
        for parent in spec.get("parentRefs") or []:
            if parent.get("sectionName") != TLS_LISTENER:
                report.add(
                    _key(route),
                    f"attaches to {parent.get('name')} outside its {TLS_LISTENER} listener (TLS)",
                )
        for rule in spec.get("rules") or []:
            paths = [match.get("path") or {} for match in rule.get("matches") or [{}]]
            for backend in rule.get("backendRefs") or []:
                name = backend.get("name") if backend.get("kind", "Service") == "Service" else None
                if name not in public:
                    report.add(
                        _key(route),
                        f"routes to {backend.get('name')}: only {', '.join(public)} are public",
                    )
                    continue
                if name == "payment":
                    payment_hosts.update(spec.get("hostnames") or [])
                for path in paths:
                    if _opens_only(path, public[name]):
                        routed.add((name, path.get("value", ROOT)))
                    else:
                        report.add(
                            _key(route),
                            f"exposes {path.get('value', ROOT)} ({path.get('type', 'PathPrefix')})"
                            f" of {name}: only {_listed(public[name])} are public",
                        )
    for service, required in public.items():
        for path, broken in required.items():
            if (service, path) not in routed:
                report.add("HTTPRoute", f"no route for {path} of {service}: {broken}")
    for config_map in _of_kind(resources, "ConfigMap"):
        url = (config_map.get("data") or {}).get("PUBLIC_BASE_URL")
        if url is None:
            continue
        parsed = urlparse(url)
        if parsed.scheme != "https" or parsed.hostname not in payment_hosts:
            report.add(
                _key(config_map),
                f"PUBLIC_BASE_URL {url} is not https on a payment route's host "
                f"{sorted(payment_hosts)}",
            )


def build_service_app(service: str) -> Any:
    """The app `services.<service>` builds, offline: nothing connects until its lifespan runs."""
    from cryptography.fernet import Fernet

    module = importlib.import_module(f"services.{service}.app")
    # Settings a build needs and a manifest keeps in Secrets: stand-ins, never used.
    stand_ins = {"LOCAL_RUN": "true", "PAYMENT_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    with _environment(stand_ins):
        return module.build_app()


def import_public_paths(service: str) -> frozenset[str]:
    """The paths `services.<service>` serves to browsers outside, read off the app it builds."""
    return frozenset(getattr(build_service_app(service).state, "public_paths", ()))


def import_kafka_usage(service: str) -> KafkaUsage:
    """What `services.<service>` declares it does on Kafka, read off the app it builds."""
    usage = build_service_app(service).state.kafka_usage
    assert isinstance(usage, KafkaUsage)
    return usage


def expected_grants(usage: KafkaUsage) -> dict[tuple[str, str], set[str]]:
    """The ACLs a service's Kafka usage needs, by (resource type, name or `prefix*`)."""
    grants: dict[tuple[str, str], set[str]] = {}
    for topic in usage.read:
        grants.setdefault(("topic", topic), set()).update({"Read", "Describe"})
    for topic in usage.write:
        grants.setdefault(("topic", topic), set()).update({"Write", "Describe"})
    for topic in usage.create:
        grants.setdefault(("topic", topic), set()).add("Create")
    for group in usage.groups:
        grants.setdefault(("group", group), set()).add("Read")
    return grants


def granted(user: Resource) -> dict[tuple[str, str], set[str]]:
    """The ACLs a KafkaUser allows, by (resource type, name or `prefix*`)."""
    grants: dict[tuple[str, str], set[str]] = {}
    for acl in ((user["spec"].get("authorization") or {}).get("acls")) or []:
        if acl.get("type", "allow") != "allow":
            continue
        resource = acl["resource"]
        name = str(resource.get("name", ""))
        if resource.get("patternType") == "prefix":
            name += PREFIX_MARK
        grants.setdefault((resource["type"], name), set()).update(acl.get("operations") or [])
    return grants


def check_kafka_users(resources: list[Resource], usage_for: UsageFor, report: Report) -> None:
    """Each service connects as its own KafkaUser, whose ACLs are exactly what its code does."""
    users = {user["metadata"]["name"]: user for user in _of_kind(resources, "KafkaUser")}
    if not users:
        return
    for deployment in _of_kind(resources, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            service = service_of(container)
            if service is None:
                continue
            where = f"{_key(deployment)} container {container.get('name')}"
            env = container_env(container, _namespace(deployment), resources, report)
            username = env.get("KAFKA_SASL_USERNAME")
            user = users.get(str(username.value)) if username is not None else None
            if user is None:
                report.add(where, "connects to Kafka as no KafkaUser of these manifests")
                continue
            if not (env.get("KAFKA_SECURITY_PROTOCOL") and env["KAFKA_SECURITY_PROTOCOL"].value):
                report.add(where, "sets no KAFKA_SECURITY_PROTOCOL (SASL_SSL)")
            try:
                wanted = expected_grants(usage_for(service))
            except ImportError as error:
                report.add(where, f"services.{service}.app cannot be imported ({error})")
                continue
            given = granted(user)
            for resource in sorted(wanted.keys() | given.keys()):
                kind, name = resource
                for operation in sorted(wanted.get(resource, set()) - given.get(resource, set())):
                    report.add(
                        _key(user), f"lacks {operation} on {kind} {name}, which {service} uses"
                    )
                for operation in sorted(given.get(resource, set()) - wanted.get(resource, set())):
                    report.add(
                        _key(user),
                        f"allows {operation} on {kind} {name}, which {service} never uses",
                    )


KEDA_DEFAULT_MAX_REPLICAS = 100
KEDA_SASL = {"SCRAM-SHA-512": "scram_sha512", "SCRAM-SHA-256": "scram_sha256"}
"""KAFKA_SASL_MECHANISM in the Kafka scaler's words."""


def lag_triggers(usage: KafkaUsage) -> set[tuple[str, str | None]]:
    """(consumer group, topic) of each lag a service's scaling must follow; a pattern's topics
    are one trigger without a topic (KEDA then reads every topic the group has offsets on)."""
    return {
        (group, None if topic.endswith(PREFIX_MARK) else topic)
        for group, topics in usage.consumes.items()
        for topic in topics
    }


def check_scaling(resources: list[Resource], usage_for: UsageFor, report: Report) -> None:
    """Each consuming service scales on a ScaledObject whose Kafka triggers name exactly its
    consumer groups and topics, connected as the service connects (bootstrap servers, SASL and
    TLS, its own KafkaUser's password, the cluster CA it mounts), never to zero, never past the
    partitions (allowIdleConsumers false)."""
    scaled_objects = _of_kind(resources, "ScaledObject")
    if not scaled_objects:
        return
    by_target = {scaled["spec"]["scaleTargetRef"]["name"]: scaled for scaled in scaled_objects}
    auths = {_key(auth): auth for auth in _of_kind(resources, "TriggerAuthentication")}
    for deployment in _of_kind(resources, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            service = service_of(container)
            if service is None:
                continue
            try:
                usage = usage_for(service)
            except ImportError as error:
                report.add(_key(deployment), f"services.{service}.app cannot be imported ({error})")
                continue
            scaled = by_target.get(deployment["metadata"]["name"])
            if scaled is None:
                if usage.consumes:
                    report.add(_key(deployment), "consumes Kafka but no ScaledObject scales it")
                continue
            env = container_env(container, _namespace(deployment), resources, report)
            mounted = {
                str((volume.get("secret") or {}).get("secretName"))
                for volume in pod.get("volumes") or []
            }
            _check_scaled_object(scaled, usage, env, mounted, auths, report)


def _check_scaled_object(
    scaled: Resource,
    usage: KafkaUsage,
    env: Mapping[str, EnvSource],
    mounted: set[str],
    auths: Mapping[str, Resource],
    report: Report,
) -> None:
    where, spec = _key(scaled), scaled["spec"]
    if spec.get("minReplicaCount", 0) < 1:
        report.add(where, "minReplicaCount below 1: the HTTP API and the timers must keep running")
    triggers = [trigger for trigger in spec["triggers"] if trigger["type"] == "kafka"]
    found = {(t["metadata"].get("consumerGroup", ""), t["metadata"].get("topic")) for t in triggers}
    wanted = lag_triggers(usage)
    for group, topic in sorted(wanted - found, key=str):
        report.add(where, f"no trigger on the lag of group {group} on {topic or 'its topics'}")
    for group, topic in sorted(found - wanted, key=str):
        report.add(where, f"a trigger on group {group} on {topic or 'its topics'}, never consumed")

    def value(name: str) -> str:
        return str(env[name].value) if name in env else ""

    protocol = value("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"
    sasl = KEDA_SASL.get(value("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512", "unknown")
    expected = {
        "sasl": sasl if protocol.startswith("SASL_") else "none",
        "tls": "enable" if protocol in ("SSL", "SASL_SSL") else "disable",
        "offsetResetPolicy": "earliest",  # as the services' consumers start
    }
    password = env.get("KAFKA_SASL_PASSWORD")
    used: set[str] = set()
    for trigger in triggers:
        metadata = trigger["metadata"]
        twhere = f"{where} trigger {metadata.get('consumerGroup')}/{metadata.get('topic', '*')}"
        servers = metadata.get("bootstrapServers") or value(
            str(metadata.get("bootstrapServersFromEnv"))
        )
        if servers != value("KAFKA_BOOTSTRAP_SERVERS"):
            report.add(twhere, f"reads {servers or 'no bootstrap servers'}, not the service's")
        for name, wanted_value in expected.items():
            if metadata.get(name, "none" if name == "sasl" else "") != wanted_value:
                report.add(twhere, f"{name} {metadata.get(name)} is not {wanted_value}")
        if str(metadata.get("allowIdleConsumers", "false")).lower() == "true":
            report.add(twhere, "allowIdleConsumers would scale past the partitions")
        ref = f"TriggerAuthentication/{(trigger.get('authenticationRef') or {}).get('name')}"
        if protocol.startswith("SASL_") and ref not in auths:
            report.add(twhere, "no TriggerAuthentication of these manifests: KEDA cannot log in")
        used.add(ref)
    for auth in (auths[ref] for ref in sorted(used & auths.keys())):
        secrets = {t["parameter"]: t for t in auth["spec"].get("secretTargetRef") or []}
        from_env = {t["parameter"]: t["name"] for t in auth["spec"].get("env") or []}
        given = secrets.get("password", {})
        if password is None or f"{given.get('name')}/{given.get('key')}" != password.origin:
            report.add(_key(auth), "password is not the service's KAFKA_SASL_PASSWORD Secret")
        if from_env.get("username") != "KAFKA_SASL_USERNAME":
            report.add(_key(auth), "username is not the service's KAFKA_SASL_USERNAME")
        if expected["tls"] == "enable" and secrets.get("ca", {}).get("name") not in mounted:
            report.add(_key(auth), "ca is not the cluster CA Secret the service mounts")


def check_topics(resources: list[Resource], report: Report) -> None:
    """A KafkaTopic for every fixed topic and its DLQ, sized alike and as the services expect."""
    from shared.broker import DLQ_RETENTION_MS
    from shared.topics import COMPACTED_TOPICS, FIXED_TOPICS, dlq_topic

    topics = {
        str(topic["spec"].get("topicName") or topic["metadata"]["name"]): topic
        for topic in _of_kind(resources, "KafkaTopic")
    }
    if not topics:
        return
    wanted = [*FIXED_TOPICS, *(dlq_topic(topic) for topic in FIXED_TOPICS)]
    for name in wanted:
        if name not in topics:
            report.add("KafkaTopic", f"{name} is missing")
    partitions = {int(topic["spec"]["partitions"]) for topic in topics.values()}
    if len(partitions) != 1:
        report.add("KafkaTopic", f"partitions differ between topics: {sorted(partitions)}")
    for name, topic in topics.items():
        spec = topic["spec"]
        config = spec.get("config") or {}
        if "strimzi.io/cluster" not in (topic["metadata"].get("labels") or {}):
            report.add(_key(topic), "no strimzi.io/cluster label")
        if name in COMPACTED_TOPICS and config.get("cleanup.policy") != "compact":
            report.add(_key(topic), "must be compacted (cleanup.policy: compact)")
        if name.endswith(".dlq") and str(config.get("retention.ms")) != str(DLQ_RETENTION_MS):
            report.add(_key(topic), f"retention.ms must be {DLQ_RETENTION_MS} (14 days)")
        min_insync = int(config.get("min.insync.replicas", 1))
        if spec["replicas"] > 1 and min_insync >= spec["replicas"]:
            report.add(_key(topic), "min.insync.replicas >= replicas: one broker down stops writes")
    count = max(partitions)
    for config_map in _of_kind(resources, "ConfigMap"):
        value = (config_map.get("data") or {}).get("KAFKA_TOPIC_PARTITIONS")
        if value is not None and (not value.isdigit() or int(value) != count):
            report.add(
                _key(config_map), f"KAFKA_TOPIC_PARTITIONS {value} != KafkaTopic partitions {count}"
            )
    for scaled in _of_kind(resources, "ScaledObject"):
        most = scaled["spec"].get("maxReplicaCount", KEDA_DEFAULT_MAX_REPLICAS)
        if most > count:
            report.add(_key(scaled), f"maxReplicaCount {most} > {count} partitions")


_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (functions, keywords and label names left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        if match.start() > 0 and text[match.start() - 1].isdigit():
            continue  # the exponent of a number such as 1e3
        names.add(word)
    return names


def _exposed(
    resources: list[Resource], metrics_for: MetricsFor, report: Report, where: str
) -> set[str] | None:
    """The metrics the rendered services expose (None, reported, when they cannot be read)."""
    services = {
        name
        for deployment in _of_kind(resources, "Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if (name := service_of(container))
    }
    try:
        return metrics_for(sorted(services))
    except ImportError as error:
        report.add(where, f"a service's metrics cannot be imported ({error})")
        return None


def check_alerts(resources: list[Resource], metrics_for: MetricsFor, report: Report) -> None:
    """Every metric an alert reads is one the services expose."""
    rules = _of_kind(resources, "PrometheusRule")
    if not rules:
        return
    exposed = _exposed(resources, metrics_for, report, "PrometheusRule")
    if exposed is None:
        return
    for rule_file in rules:
        for group in rule_file["spec"]["groups"]:
            for rule in group["rules"]:
                for name in sorted(promql_metric_names(str(rule["expr"])) - exposed):
                    report.add(
                        f"{_key(rule_file)} {rule.get('alert') or rule.get('record')}",
                        f"metric {name} is not exposed by any service",
                    )


DASHBOARD_LABEL = "grafana_dashboard"
"""The label Grafana's dashboard sidecar (kube-prometheus-stack) loads ConfigMaps by."""
_LABEL_VALUES = re.compile(r"label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", re.DOTALL)


def dashboard_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query a Grafana dashboard runs: its panels' targets (rows'
    panels included) and its variables' queries (`label_values(<expr>, label)` as `<expr>`)."""
    panels = list(dashboard.get("panels") or [])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield f"panel {panel.get('title')!r}", str(target["expr"])
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = str(query.get("query", "") if isinstance(query, Mapping) else query or "")
        match = _LABEL_VALUES.fullmatch(text.strip())
        yield f"variable {variable.get('name')!r}", match.group(1) if match else text


def check_dashboards(resources: list[Resource], metrics_for: MetricsFor, report: Report) -> None:
    """Every metric a Grafana dashboard (a ConfigMap labelled grafana_dashboard) reads is one
    the services expose; where alerts ship, a dashboard ships too."""
    dashboards = [
        config_map
        for config_map in _of_kind(resources, "ConfigMap")
        if DASHBOARD_LABEL in (config_map["metadata"].get("labels") or {})
    ]
    if _of_kind(resources, "PrometheusRule") and not dashboards:
        report.add("ConfigMap", f"alerts without a Grafana dashboard (label {DASHBOARD_LABEL})")
    if not dashboards:
        return
    exposed = _exposed(resources, metrics_for, report, "Grafana dashboard")
    if exposed is None:
        return
    for config_map in dashboards:
        for file, text in (config_map.get("data") or {}).items():
            where = f"{_key(config_map)} {file}"
            try:
                dashboard = json.loads(text)
            except ValueError as error:
                report.add(where, f"is not JSON ({error})")
                continue
            for place, query in dashboard_queries(dashboard):
                for name in sorted(promql_metric_names(query) - exposed):
                    report.add(f"{where} {place}", f"metric {name} is not exposed by any service")


def check_resources(
    name: str,
    resources: list[Resource],
    settings_for: SettingsFor = import_settings,
    metrics_for: MetricsFor = exposed_metric_names,
    usage_for: UsageFor = import_kafka_usage,
    paths_for: PathsFor = import_public_paths,
) -> Report:
    """Runs every rule on one rendered kustomization."""
    report = Report(name)
    for deployment in _of_kind(resources, "Deployment"):
        check_pod_hardening(deployment, report)
        check_service_settings(deployment, resources, settings_for, report)
    check_wiring(resources, report)
    check_http_routes(resources, paths_for, report)
    check_topics(resources, report)
    check_kafka_users(resources, usage_for, report)
    check_scaling(resources, usage_for, report)
    check_alerts(resources, metrics_for, report)
    check_dashboards(resources, metrics_for, report)
    return report


# --- The command ---------------------------------------------------------------------------


def render(kustomize: Path, kustomization: Path) -> str:
    result = subprocess.run(
        [str(kustomize), "build", str(kustomization)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"kustomize build {kustomization} failed:\n{result.stderr}")
    return result.stdout


def kubeconform(
    binary: Path, schemas: Path, kubernetes_version: str, rendered: str
) -> tuple[bool, str]:
    builtin = str(schemas.resolve()) + (
        "/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}"
        "/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )
    crds = f"{CRD_SCHEMAS}" + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    result = subprocess.run(
        [
            str(binary),
            "-strict",
            "-summary",
            "-kubernetes-version",
            kubernetes_version,
            "-schema-location",
            builtin,
            "-schema-location",
            crds,
            "-",
        ],
        input=rendered,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def load_resources(rendered: str) -> list[Resource]:
    import yaml

    return [document for document in yaml.safe_load_all(rendered) if document]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kustomize", type=Path, required=True)
    parser.add_argument("--kubeconform", type=Path, required=True)
    parser.add_argument("--schemas", type=Path, required=True, help="kubeconform schema folder")
    parser.add_argument("--kubernetes-version", required=True)
    args = parser.parse_args()
    failed = False
    for name in KUSTOMIZATIONS:
        rendered = render(args.kustomize, K8S_DIR / name)
        valid, summary = kubeconform(
            args.kubeconform, args.schemas, args.kubernetes_version, rendered
        )
        resources = load_resources(rendered)
        report = check_resources(name, resources)
        print(f"{name}: {len(resources)} resources; kubeconform: {summary.splitlines()[-1]}")
        if not valid:
            print(summary)
        for note in report.notes:
            print(f"  {note}")
        for problem in report.problems:
            print(f"  FAIL {problem}")
        failed = failed or not valid or bool(report.problems)
    print(
        "k8s-check: FAILED"
        if failed
        else "k8s-check: all manifests valid and consistent with the code"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
