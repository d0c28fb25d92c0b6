"""The rules of `make k8s-check`, on small hand-made manifests and settings classes."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.k8s.check import (
    Report,
    check_resources,
    dashboard_queries,
    exposed_metric_names,
    import_public_paths,
    lag_triggers,
    load_resources,
    process_variables,
    promql_metric_names,
    settings_variables,
    validate_literals,
)
from services.order import audit as order_audit
from services.payment import audit as payment_audit
from shared.broker import DLQ_RETENTION_MS
from shared.runtime import KafkaUsage
from shared.topics import COMPACTED_TOPICS, FIXED_TOPICS, dlq_topic


class _Http(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HTTP_", extra="ignore")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class _Consumer(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSUMER_", extra="ignore")
    transient_max_elapsed_s: float = 30.0


class _Kafka(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")
    topic_partitions: int = 6


class _Secret(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")
    key: SecretStr
    public_url: str = Field(default="http://127.0.0.1", validation_alias="PUBLIC_BASE_URL")


class _Settings(BaseModel):
    http: _Http = Field(default_factory=_Http)
    consumer: _Consumer = Field(default_factory=_Consumer)
    kafka: _Kafka = Field(default_factory=_Kafka)
    secret: _Secret = Field(default_factory=_Secret)


def _settings_for(service: str) -> type[BaseModel]:
    if service != "demo":
        raise ModuleNotFoundError(f"No module named 'services.{service}.config'")
    return _Settings


def _metrics_for(services: Iterable[str]) -> set[str]:
    return {"up", "demo_orders_total", "dead_letters_total"}


def _deployment(service: str = "demo") -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "http"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service, "namespace": "ns"},
        "spec": {
            "selector": {"matchLabels": {"app": service}},
            "template": {
                "metadata": {"labels": {"app": service}},
                "spec": {
                    "terminationGracePeriodSeconds": 60,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": service,
                            "image": "image",
                            "command": ["python", "-m", f"services.{service}"],
                            "ports": [{"name": "http", "containerPort": 8081}],
                            "envFrom": [{"configMapRef": {"name": "settings"}}],
                            "env": [
                                {"name": "HTTP_PORT", "value": "8081"},
                                {
                                    "name": "DEMO_KEY",
                                    "valueFrom": {"secretKeyRef": {"name": "demo", "key": "key"}},
                                },
                            ],
                            "startupProbe": probe,
                            "livenessProbe": probe,
                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def _config_map(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "ns"},
        "data": data,
    }


def _deny_all() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "ns"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _topic(name: str, partitions: int = 3, **config: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "events"}},
        "spec": {"topicName": name, "partitions": partitions, "replicas": 1, "config": config},
    }


def _all_topics(partitions: int = 3) -> list[dict[str, Any]]:
    topics = [_topic(name, partitions) for name in FIXED_TOPICS if name not in COMPACTED_TOPICS]
    compacted = {"cleanup.policy": "compact"}
    topics += [_topic(name, partitions, **compacted) for name in sorted(COMPACTED_TOPICS)]
    retention = {"retention.ms": str(DLQ_RETENTION_MS)}
    topics += [_topic(dlq_topic(name), partitions, **retention) for name in FIXED_TOPICS]
    return topics


def _resources(**settings: str) -> list[dict[str, Any]]:
    data = {"HTTP_HOST": "0.0.0.0", **settings}  # noqa: S104 (a pod listens on all addresses)
    return [_deployment(), _config_map(data), _deny_all()]


DEMO_USAGE = KafkaUsage(
    read={"demo.in", "pos.*"},
    write={"demo.out", "demo.in.dlq", "pos.*"},
    groups={"demo"},
    consumes={"demo": {"demo.in", "pos.*"}},
)


def _usage_for(service: str) -> KafkaUsage:
    return DEMO_USAGE


def _problems(resources: list[dict[str, Any]]) -> list[str]:
    report = check_resources("test", resources, _settings_for, _metrics_for, _usage_for)
    return report.problems


def test_settings_variables_are_prefixed_names_or_aliases_with_required_ones_marked() -> None:
    found = settings_variables(_Settings)
    assert set(found) == {
        "HTTP_HOST",
        "HTTP_PORT",
        "CONSUMER_TRANSIENT_MAX_ELAPSED_S",
        "KAFKA_TOPIC_PARTITIONS",
        "DEMO_KEY",
        "PUBLIC_BASE_URL",
    }
    assert [name for name, variable in found.items() if variable.required] == ["DEMO_KEY"]


def test_a_hardened_deployment_whose_variables_the_service_reads_passes() -> None:
    assert _problems(_resources()) == []


def test_a_variable_the_settings_never_read_is_reported() -> None:
    problems = _problems(_resources(KAFKA_PARTITIONS="3"))
    assert any("KAFKA_PARTITIONS is set but" in problem for problem in problems)


def test_a_variable_the_code_reads_outside_the_settings_is_allowed() -> None:
    assert not _problems(_resources(LOG_LEVEL="DEBUG"))


def test_process_variables_are_found_in_direct_environment_reads(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('level = os.environ.get("LOG_LEVEL", "INFO")\n')
    (tmp_path / "b.py").write_text("x = os.getenv('OTHER_ONE')\ny = os.environ['THIRD']\n")
    assert process_variables([tmp_path]) == {"LOG_LEVEL", "OTHER_ONE", "THIRD"}


def test_a_required_setting_that_nothing_provides_is_reported() -> None:
    resources = _resources()
    container = resources[0]["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [item for item in container["env"] if item["name"] != "DEMO_KEY"]
    assert any("required setting DEMO_KEY" in problem for problem in _problems(resources))


def test_a_literal_value_that_does_not_validate_is_reported() -> None:
    problems = _problems(_resources(KAFKA_TOPIC_PARTITIONS="twelve"))
    assert any("_Kafka.topic_partitions" in problem for problem in problems)


def test_validating_literals_leaves_the_process_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    validate_literals(settings_variables(_Settings), {"HTTP_PORT": "8081"})
    assert os.environ["SOMETHING_ELSE"] == "kept"
    assert "HTTP_PORT" not in os.environ


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["readinessProbe"], None, "no readinessProbe"),
        (["livenessProbe"], None, "no livenessProbe"),
        (["resources", "limits", "memory"], None, "no memory limit"),
        (["resources", "requests", "cpu"], None, "no cpu request"),
        (["securityContext", "readOnlyRootFilesystem"], False, "readOnlyRootFilesystem"),
        (["securityContext", "allowPrivilegeEscalation"], True, "allowPrivilegeEscalation"),
        (["securityContext", "capabilities", "drop"], ["NET_RAW"], "drop ALL"),
        (["ports", 0, "containerPort"], 9000, "HTTP_PORT 8081 is not the http port 9000"),
        (["lifecycle"], None, "no preStop hook"),
    ],
)
def test_an_unsafe_or_inconsistent_container_is_reported(
    path: list[Any], value: Any, expected: str
) -> None:
    resources = _resources()
    target: Any = resources[0]["spec"]["template"]["spec"]["containers"][0]
    for step in path[:-1]:
        target = target[step]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    assert any(expected in problem for problem in _problems(resources)), _problems(resources)


def test_a_pod_not_forced_to_run_as_non_root_is_reported() -> None:
    resources = _resources()
    del resources[0]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    assert any("runAsNonRoot" in problem for problem in _problems(resources))


def test_a_listener_on_loopback_is_reported() -> None:
    problems = _problems([_deployment(), _config_map({}), _deny_all()])
    assert any("HTTP_HOST None hides the listener" in problem for problem in problems)


def test_a_grace_period_shorter_than_the_consumer_drain_is_reported() -> None:
    resources = _resources(CONSUMER_TRANSIENT_MAX_ELAPSED_S="120")
    problems = _problems(resources)
    assert any("terminationGracePeriodSeconds 60 < 135" in problem for problem in problems)


def test_a_service_whose_settings_cannot_be_imported_fails_the_check() -> None:
    resources = _resources()
    resources[0]["spec"]["template"]["spec"]["containers"][0]["command"][-1] = "services.payment"
    problems = _problems(resources)
    assert any("services.payment.config cannot be imported" in problem for problem in problems)


def test_variables_from_an_envfrom_secret_cannot_be_verified_and_are_refused() -> None:
    resources = _resources()
    container = resources[0]["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"].append({"secretRef": {"name": "everything"}})
    assert any("hides which variables" in problem for problem in _problems(resources))


def test_without_a_default_deny_network_policy_the_check_fails() -> None:
    resources = _resources()[:2]
    assert any("no default-deny policy" in problem for problem in _problems(resources))


def test_every_fixed_topic_and_its_dead_letter_topic_must_be_declared() -> None:
    topics = [topic for topic in _all_topics() if topic["metadata"]["name"] != "orders.events.dlq"]
    problems = _problems([*_resources(KAFKA_TOPIC_PARTITIONS="3"), *topics])
    assert problems == ["test: KafkaTopic: orders.events.dlq is missing"]


def test_topic_partitions_must_match_what_the_services_create() -> None:
    problems = _problems([*_resources(KAFKA_TOPIC_PARTITIONS="6"), *_all_topics(3)])
    assert any("KAFKA_TOPIC_PARTITIONS 6 != KafkaTopic partitions 3" in p for p in problems)


def test_a_dead_letter_topic_keeps_fourteen_days_and_stores_config_is_compacted() -> None:
    topics = copy.deepcopy(_all_topics())
    for topic in topics:
        topic["spec"]["config"] = {}
    problems = _problems([*_resources(KAFKA_TOPIC_PARTITIONS="3"), *topics])
    assert sum("retention.ms must be" in problem for problem in problems) == len(FIXED_TOPICS)
    assert any("stores.config" in problem and "compacted" in problem for problem in problems)


def test_an_alert_on_a_metric_no_service_exposes_is_reported() -> None:
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "alerts"},
        "spec": {
            "groups": [
                {
                    "name": "g",
                    "rules": [
                        {"alert": "Fine", "expr": "increase(demo_orders_total[5m]) > 0"},
                        {"alert": "Typo", "expr": "increase(demo_order_total[5m]) > 0"},
                    ],
                }
            ]
        },
    }
    problems = _problems([*_resources(), rule, _dashboard("demo_orders_total")])
    assert problems == [
        "test: PrometheusRule/alerts Typo: metric demo_order_total is not exposed by any service"
    ]
    assert _problems([*_resources(), rule]) == [
        *problems,
        "test: ConfigMap: alerts without a Grafana dashboard (label grafana_dashboard)",
    ]


def _dashboard(*exprs: str, variable: str = "label_values(dead_letters_total, namespace)") -> Any:
    dashboard: dict[str, Any] = {
        "title": "demo",
        "panels": [
            {"type": "row", "title": "row", "panels": [{"title": "inner", "targets": []}]},
            {"type": "timeseries", "title": "outer", "targets": []},
        ],
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "namespace", "type": "query", "query": {"query": variable}},
            ]
        },
    }
    for n, expr in enumerate(exprs):
        panel = dashboard["panels"][n % 2]
        (panel["panels"][0] if panel["type"] == "row" else panel)["targets"].append({"expr": expr})
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "board", "namespace": "ns", "labels": {"grafana_dashboard": "1"}},
        "data": {"board.json": json.dumps(dashboard)},
    }


def test_a_dashboard_reading_only_exposed_metrics_passes() -> None:
    board = _dashboard("sum by (topic) (rate(dead_letters_total[$__rate_interval]))", "up")
    assert _problems([*_resources(), board]) == []


def test_a_dashboard_panel_or_variable_on_a_metric_no_service_exposes_is_reported() -> None:
    board = _dashboard(
        'sum(rate(demo_order_total{namespace="$namespace"}[$__rate_interval]))',
        "rate(demo_orders_total[5m])",
        variable="label_values(demo_lag, namespace)",
    )

    assert _problems([*_resources(), board]) == [
        "test: ConfigMap/board board.json panel 'inner': metric demo_order_total is not "
        "exposed by any service",
        "test: ConfigMap/board board.json variable 'namespace': metric demo_lag is not exposed "
        "by any service",
    ]


def test_the_shipped_dashboard_reads_only_metrics_the_services_expose() -> None:
    board = Path(__file__).parents[2] / "deploy" / "observability" / "dashboard.json"
    exposed = exposed_metric_names(["order", "payment", "notifier", "scheduler"])
    queries = list(dashboard_queries(json.loads(board.read_text())))
    used = set().union(*(promql_metric_names(query) for _, query in queries))

    assert len(queries) >= 20
    assert used - exposed == set()
    assert {"order_status_entered_total", "consumer_lag_messages", "dead_letters_total"} <= used


def shipped_alerts() -> dict[str, Any]:
    """The shipped alert rules by name."""
    path = Path(__file__).parents[2] / "deploy" / "observability" / "alerts.yaml"
    [rules] = load_resources(path.read_text())
    return {rule["alert"]: rule for group in rules["spec"]["groups"] for rule in group["rules"]}


def test_the_shipped_alerts_read_only_metrics_the_services_expose() -> None:
    alerts = shipped_alerts()
    exposed = exposed_metric_names(["order", "payment", "notifier", "scheduler"])
    used = set().union(*(promql_metric_names(alert["expr"]) for alert in alerts.values()))

    assert used - exposed == set()
    stopped = alerts["MoneyAuditStopped"]["expr"]
    assert promql_metric_names(stopped) == {"money_audit_last_pass_timestamp_seconds"}
    assert 'job=~"order|payment"' in stopped  # the services that run an audit


def alerts_on_kind(expr: str, kind: str) -> bool:
    """Whether the `kind` matcher of an alert on money_audit_findings selects this kind."""
    [(operator, value)] = re.findall(r'kind(=~|!~|!=|=)"([^"]*)"', expr)
    matched = re.fullmatch(value, kind) if "~" in operator else value == kind
    return bool(matched) is (operator in ("=", "=~"))


def test_every_money_audit_finding_alerts_once_refunds_that_never_happen_as_refund_stuck() -> None:
    alerts = shipped_alerts()
    stuck_refunds = {payment_audit.REFUND_STUCK, order_audit.REFUND_NEVER_ANSWERED}

    for kind in {*payment_audit.KINDS, *order_audit.KINDS}:
        raised = {
            name
            for name in ("PaymentsStranded", "RefundStuck")
            if alerts_on_kind(alerts[name]["expr"], kind)
        }
        assert raised == {"RefundStuck" if kind in stuck_refunds else "PaymentsStranded"}, kind


def test_promql_metric_names_leave_out_functions_keywords_labels_and_durations() -> None:
    expr = """
        sum by (namespace, le) (rate(timer_lateness_seconds_bucket{job="scheduler"}[5m]))
          / on (namespace) group_left sum(rate(messages_handled_total{outcome="x"}[5m] offset 1h))
        and (sum(increase(order_alerts_total{kind="refund_failed"}[30m])) or vector(0)) == 0
        or absent(up{job="order"} == 1) > 1e3
    """
    assert promql_metric_names(expr) == {
        "timer_lateness_seconds_bucket",
        "messages_handled_total",
        "order_alerts_total",
        "up",
    }


def test_report_prefixes_each_problem_with_the_kustomization() -> None:
    report = Report("overlays/dev")
    report.add("Deployment/x", "broken")
    assert report.problems == ["overlays/dev: Deployment/x: broken"]


PAYMENT_MATCHES = (("PathPrefix", "/webhooks/asaas/"), ("PathPrefix", "/pix/"))
PANEL_PATHS = frozenset({"/", "/entrar", "/lojas"})
PANEL_MATCHES = (("Exact", "/"), ("PathPrefix", "/entrar"), ("PathPrefix", "/lojas"))


def _paths_for(service: str) -> frozenset[str]:
    return PANEL_PATHS if service == "panel" else frozenset()


def _http_route(
    *matches: tuple[str, str],
    backend: str = "payment",
    host: str = "payments.example.com",
    section: str = "https",
) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": backend, "namespace": "ns"},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateway", "sectionName": section}],
            "hostnames": [host],
            "rules": [
                {
                    "matches": [
                        {"path": {"type": kind, "value": value}}
                        for kind, value in matches or PAYMENT_MATCHES
                    ],
                    "backendRefs": [{"kind": "Service", "name": backend, "port": 8082}],
                }
            ],
        },
    }


def _panel_route(*matches: tuple[str, str], section: str = "https") -> dict[str, Any]:
    return _http_route(
        *(matches or PANEL_MATCHES),
        backend="panel",
        host="painel.example.com",
        section=section,
    )


def _route_problems(*routes: dict[str, Any], public_base_url: str) -> list[str]:
    resources = [*_resources(PUBLIC_BASE_URL=public_base_url), *routes]
    report = check_resources("test", resources, _settings_for, _metrics_for, _usage_for, _paths_for)
    return report.problems


def test_the_webhook_pix_image_and_panel_routes_on_the_public_base_urls_host_pass() -> None:
    problems = _route_problems(
        _http_route(), _panel_route(), public_base_url="https://payments.example.com"
    )
    assert problems == []


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        (
            [_http_route(("PathPrefix", "/")), _panel_route()],
            "exposes / (PathPrefix) of payment: only /pix/, /webhooks/asaas/ are public",
        ),
        (
            [_http_route(), _panel_route(*PANEL_MATCHES, ("PathPrefix", "/metrics"))],
            "exposes /metrics (PathPrefix) of panel: only / (Exact), /entrar, /lojas are public",
        ),
        (
            [_http_route(), _panel_route(("PathPrefix", "/"), *PANEL_MATCHES[1:])],
            "exposes / (PathPrefix) of panel",
        ),
        (
            [_http_route(), _panel_route(*PANEL_MATCHES[:2])],
            "HTTPRoute: no route for /lojas of panel: restaurants cannot reach the panel's /lojas",
        ),
        (
            [_panel_route()],
            "no route for /webhooks/asaas/ of payment: Asaas cannot deliver webhooks",
        ),
        (
            [_http_route(PAYMENT_MATCHES[0]), _panel_route()],
            "no route for /pix/ of payment: WhatsApp cannot fetch the PIX QR images",
        ),
        (
            [_http_route(), _panel_route(), _http_route(backend="order")],
            "routes to order: only payment, panel are public",
        ),
        ([_http_route(), _panel_route(section="http")], "outside its https listener"),
    ],
    ids=[
        "everything-public",
        "panel-metrics",
        "everything-of-the-panel",
        "panel-store-pages-missing",
        "webhook-missing",
        "pix-images-missing",
        "wrong-backend",
        "no-tls",
    ],
)
def test_http_routes_exposing_more_or_less_than_the_public_paths_or_without_tls_are_reported(
    routes: list[dict[str, Any]], expected: str
) -> None:
    problems = _route_problems(*routes, public_base_url="https://payments.example.com")
    assert any(expected in problem for problem in problems), problems


def test_a_public_base_url_on_no_payment_route_host_and_any_ingress_are_reported() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
               "spec": {"rules": []}}  # fmt: skip
    problems = _route_problems(
        _http_route(), _panel_route(), ingress, public_base_url="https://painel.example.com"
    )
    assert any("is not https on a payment route's host" in problem for problem in problems)
    assert any("ingress-nginx is retired" in problem for problem in problems)


def test_the_panels_public_paths_are_its_pages_and_static_files_not_health_or_metrics() -> None:
    assert import_public_paths("panel") == {"/", "/entrar", "/sair", "/lojas", "/static"}


def _acl(kind: str, name: str, *operations: str, prefix: bool = False) -> dict[str, Any]:
    pattern = "prefix" if prefix else "literal"
    return {
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": list(operations),
    }


def _kafka_user(*acls: dict[str, Any], name: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "events"}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": list(acls)},
        },
    }


DEMO_ACLS = [
    _acl("topic", "demo.in", "Read", "Describe"),
    _acl("topic", "demo.in.dlq", "Write", "Describe"),
    _acl("topic", "demo.out", "Write", "Describe"),
    _acl("topic", "pos.", "Read", "Write", "Describe", prefix=True),
    _acl("group", "demo", "Read"),
]


def _with_kafka_user(*acls: dict[str, Any], username: str = "demo") -> list[dict[str, Any]]:
    resources = _resources(KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    container = resources[0]["spec"]["template"]["spec"]["containers"][0]
    container["env"].append({"name": "KAFKA_SASL_USERNAME", "value": username})
    return [*resources, _kafka_user(*acls)]


class _KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")
    security_protocol: str = "PLAINTEXT"
    sasl_username: str = ""
    sasl_password: str = ""
    bootstrap_servers: str = ""


class _SaslSettings(_Settings):
    sasl: _KafkaSettings = Field(default_factory=_KafkaSettings)


def _problems_with_sasl(resources: list[dict[str, Any]]) -> list[str]:
    report = check_resources("test", resources, lambda _: _SaslSettings, _metrics_for, _usage_for)
    return report.problems


def test_a_kafka_user_allowing_exactly_what_the_service_does_passes() -> None:
    assert _problems_with_sasl(_with_kafka_user(*DEMO_ACLS)) == []


def test_a_kafka_user_missing_what_the_code_needs_or_allowing_more_is_reported() -> None:
    acls = [*DEMO_ACLS[1:], _acl("topic", "demo.in", "Read"), _acl("topic", "other", "Write")]

    problems = _problems_with_sasl(_with_kafka_user(*acls))

    assert sorted(problems) == [
        "test: KafkaUser/demo: allows Write on topic other, which demo never uses",
        "test: KafkaUser/demo: lacks Describe on topic demo.in, which demo uses",
    ]


def test_a_service_connecting_as_no_kafka_user_is_reported() -> None:
    problems = _problems_with_sasl(_with_kafka_user(*DEMO_ACLS, username="someone-else"))
    assert any("connects to Kafka as no KafkaUser" in problem for problem in problems)


def _trigger(topic: str | None, **metadata: str) -> dict[str, Any]:
    found = {
        "bootstrapServersFromEnv": "KAFKA_BOOTSTRAP_SERVERS",
        "consumerGroup": "demo",
        "offsetResetPolicy": "earliest",
        "sasl": "scram_sha512",
        "tls": "enable",
    }
    if topic is not None:
        found["topic"] = topic
    return {
        "type": "kafka",
        "metadata": found | metadata,
        "authenticationRef": {"name": "demo-kafka"},
    }


def _scaled(*triggers: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
    """The demo service as a SASL_SSL client, scaled by a ScaledObject on `triggers`."""
    resources = _with_kafka_user(*DEMO_ACLS)
    resources[1]["data"]["KAFKA_BOOTSTRAP_SERVERS"] = "kafka:9093"
    pod = resources[0]["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "ca", "secret": {"secretName": "cluster-ca"}}]
    pod["containers"][0]["env"].append(
        {
            "name": "KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "demo", "key": "password"}},
        }
    )
    authentication = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "demo-kafka", "namespace": "ns"},
        "spec": {
            "env": [{"parameter": "username", "name": "KAFKA_SASL_USERNAME"}],
            "secretTargetRef": [
                {"parameter": "password", "name": "demo", "key": "password"},
                {"parameter": "ca", "name": "cluster-ca", "key": "ca.crt"},
            ],
        },
    }
    scaled_object = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {
            "scaleTargetRef": {"name": "demo"},
            "minReplicaCount": 1,
            "maxReplicaCount": 3,
            "triggers": list(triggers),
        }
        | spec,
    }
    return [*resources, authentication, scaled_object]


def test_a_scaled_object_on_each_consumed_group_and_topic_connected_as_the_service_passes() -> None:
    assert _problems_with_sasl(_scaled(_trigger("demo.in"), _trigger(None))) == []


def test_a_scaled_object_missing_a_consumed_topic_or_naming_one_never_consumed_is_reported() -> (
    None
):
    problems = _problems_with_sasl(_scaled(_trigger("demo.in"), _trigger("demo.out")))

    assert problems == [
        "test: ScaledObject/demo: no trigger on the lag of group demo on its topics",
        "test: ScaledObject/demo: a trigger on group demo on demo.out, never consumed",
    ]


def test_a_scaled_object_that_may_stop_the_service_or_outgrow_the_partitions_is_reported() -> None:
    triggers = (_trigger("demo.in", allowIdleConsumers="true"), _trigger(None))
    resources = [*_scaled(*triggers, minReplicaCount=0, maxReplicaCount=4), *_all_topics(3)]
    resources[1]["data"]["KAFKA_TOPIC_PARTITIONS"] = "3"

    problems = _problems_with_sasl(resources)

    assert sorted(problems) == [
        "test: ScaledObject/demo trigger demo/demo.in: allowIdleConsumers would scale past the "
        "partitions",
        "test: ScaledObject/demo: maxReplicaCount 4 > 3 partitions",
        "test: ScaledObject/demo: minReplicaCount below 1: the HTTP API and the timers must keep "
        "running",
    ]


def test_a_scaler_connecting_otherwise_than_its_service_is_reported() -> None:
    resources = _scaled(
        _trigger("demo.in", tls="disable", bootstrapServers="elsewhere:9092"), _trigger(None)
    )
    authentication = resources[-2]["spec"]
    authentication["secretTargetRef"] = [
        {"parameter": "password", "name": "another-user", "key": "password"},
        {"parameter": "ca", "name": "some-ca", "key": "ca.crt"},
    ]

    problems = _problems_with_sasl(resources)

    assert sorted(problems) == [
        "test: ScaledObject/demo trigger demo/demo.in: reads elsewhere:9092, not the service's",
        "test: ScaledObject/demo trigger demo/demo.in: tls disable is not enable",
        "test: TriggerAuthentication/demo-kafka: ca is not the cluster CA Secret the service "
        "mounts",
        "test: TriggerAuthentication/demo-kafka: password is not the service's "
        "KAFKA_SASL_PASSWORD Secret",
    ]


def test_a_cpu_autoscaler_is_reported() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "demo"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "demo"}, "maxReplicas": 2},
    }
    assert _problems([*_resources(), hpa]) == [
        "test: HorizontalPodAutoscaler/demo: the services wait on I/O: scale on consumer lag "
        "(ScaledObject)"
    ]


def test_lag_triggers_are_a_group_and_topic_each_and_a_patterns_group_without_topic() -> None:
    assert lag_triggers(DEMO_USAGE) == {("demo", "demo.in"), ("demo", None)}


def test_a_scaler_without_its_trigger_authentication_is_reported() -> None:
    resources = [
        r
        for r in _scaled(_trigger("demo.in"), _trigger(None))
        if r["kind"] != "TriggerAuthentication"
    ]

    problems = _problems_with_sasl(resources)

    assert problems == [
        f"test: ScaledObject/demo trigger demo/{topic}: no TriggerAuthentication of these "
        "manifests: KEDA cannot log in"
        for topic in ("demo.in", "*")
    ]
