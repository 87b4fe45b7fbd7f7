"""The Helm chart: values against the schema, templates rendered and checked as manifests.

No ``helm`` binary runs here, so ``ops.gotemplate`` renders the templates (the Go template +
Sprig subset the chart uses, with Helm's float64 numbers and nil-field errors). The rendered
manifests are parsed as YAML and checked for what SREs rely on; the rendered settings and
PSD2GW_* variables are loaded by the gateway's own settings loader.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import load_settings
from ops.gotemplate import Renderer, TemplateError, deep_merge
from ops.metricnames import unknown_series

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "psd2-gateway"
TEMPLATES = sorted((CHART / "templates").iterdir())
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z0-9_]+)+)")
OPTIONAL = {  # template -> the flag that switches it on (off by default)
    "servicemonitor.yaml": "metrics.serviceMonitor.enabled",
    "hpa.yaml": "autoscaling.enabled",
    "networkpolicy.yaml": "networkPolicy.enabled",
    "prometheusrule.yaml": "prometheusRule.enabled",
    "configmap-dashboard.yaml": "dashboards.enabled",
    "configmap-policies.yaml": "policies.files",
}
SETTINGS_FREE = {"settings", "podSecurityContext", "securityContext", "affinity"}


def defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def values_for(ci_file: Path) -> dict[str, Any]:
    return deep_merge(defaults(), yaml.safe_load(ci_file.read_text()) or {})


def render(values: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Template file name -> its manifests (NOTES.txt excluded)."""
    out = Renderer(CHART, values).render_all()
    return {
        name: [doc for doc in yaml.safe_load_all(text) if doc]
        for name, text in out.items()
        if name.endswith(".yaml")
    }


def the(manifests: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    (doc,) = manifests[name]
    return doc


def get(values: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        values = values[key]
    return values


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


@pytest.fixture
def jsonschema() -> Any:
    """The validator library (a test extra); the render tests below run without it."""
    return pytest.importorskip("jsonschema", reason="jsonschema is a test extra: pip install jsonschema")


ci = pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)


# --- values and schema --------------------------------------------------------------------


def test_ci_has_the_required_values_files() -> None:
    """The default, every-flag-on and existing-secrets scenarios are all exercised."""
    names = {p.name for p in CI_FILES}
    assert {"default-values.yaml", "full-values.yaml", "existing-secrets-values.yaml"} <= names


def test_schema_is_valid_draft7(jsonschema: Any) -> None:
    """values.schema.json is itself a valid draft-07 schema."""
    jsonschema.Draft7Validator.check_schema(schema())
    assert schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schema_closes_every_level_the_chart_owns() -> None:
    """Every object with declared properties rejects unknown keys (typos fail at install)."""

    def walk(node: dict[str, Any], path: str) -> list[str]:
        open_levels = []
        owned = path not in SETTINGS_FREE and not path.startswith("settings.")
        if "properties" in node and owned and node.get("additionalProperties") is not False:
            open_levels.append(path or "<root>")
        for key, child in node.get("properties", {}).items():
            open_levels += walk(child, f"{path}.{key}".lstrip("."))
        return open_levels

    assert walk(schema(), "") == []


def test_schema_covers_every_top_level_value() -> None:
    """Every key of values.yaml is described in the schema and vice versa."""
    assert set(defaults()) == set(schema()["properties"])


@pytest.mark.parametrize("values_file", [CHART / "values.yaml", *CI_FILES], ids=lambda p: p.name)
def test_values_validate_against_schema(values_file: Path, jsonschema: Any) -> None:
    """values.yaml, and each ci file merged over it as Helm does, pass values.schema.json."""
    values = defaults() if values_file.name == "values.yaml" else values_for(values_file)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema()).iter_errors(values)]
    assert errors == []


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"replicaCount": "two"}, "$.replicaCount"),
        ({"redis": {"scheme": "http"}}, "$.redis.scheme"),
        ({"servce": {}}, "$"),
        (
            {"networkPolicy": {"ingress": {"tpp": {"cidrs": ["10.0.0.1"]}}}},
            "$.networkPolicy.ingress.tpp.cidrs[0]",
        ),
        ({"metrics": {"serviceMonitor": {"interval": "30"}}}, "$.metrics.serviceMonitor.interval"),
    ],
)
def test_schema_rejects_mistakes(override: dict[str, Any], path: str, jsonschema: Any) -> None:
    """Wrong types, enums and typos in keys are refused with the path of the mistake."""
    errors = jsonschema.Draft7Validator(schema()).iter_errors(deep_merge(defaults(), override))
    assert path in {e.json_path for e in errors}


def test_every_value_is_documented() -> None:
    """Each leaf of values.yaml has a `# --` comment on it or on an enclosing key (helm-docs)."""
    undocumented: list[str] = []
    ancestors: list[tuple[int, str, bool]] = []  # (indent, key, documented) of enclosing keys
    lines = (CHART / "values.yaml").read_text().splitlines()
    for n, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z0-9_-]+):(.*)$", line)
        if not m:
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3).strip()
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        comments = []
        for previous in reversed(lines[:n]):
            if not previous.strip().startswith("#"):
                break
            comments.append(previous.strip())
        documented = any(c.startswith("# --") for c in comments) or any(a[2] for a in ancestors)
        ancestors.append((indent, key, documented))
        if rest and not documented:
            undocumented.append(".".join(a[1] for a in ancestors))
    assert undocumented == []


# --- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_values_reference_exists(template: Path) -> None:
    """Every .Values.x.y a template reads is a key of values.yaml (no silently empty values)."""
    values = defaults()
    missing = []
    for ref in VALUES_REF.findall(template.read_text()):
        try:
            get(values, ref.lstrip("."))
        except (KeyError, TypeError):
            missing.append(ref)
    assert missing == []


@ci
def test_chart_renders_to_valid_manifests(ci_file: Path) -> None:
    """Each template renders to at most one manifest with apiVersion, kind and a name."""
    for name, docs in render(values_for(ci_file)).items():
        assert len(docs) <= 1, f"{name}: one resource per file"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            assert doc["metadata"]["name"].startswith("gw-psd2-gateway"), name
            assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", name


def test_optional_resources_are_off_by_default() -> None:
    """With the default values only the always-on resources are rendered."""
    manifests = render(values_for(CHART / "ci" / "default-values.yaml"))
    rendered = {name for name, docs in manifests.items() if docs}
    assert rendered.isdisjoint(OPTIONAL)
    assert {"deployment.yaml", "service.yaml", "service-metrics.yaml", "pdb.yaml"} <= rendered


def test_every_flag_switches_its_resource_on() -> None:
    """full-values.yaml turns every flag on, and every optional template renders."""
    values = values_for(CHART / "ci" / "full-values.yaml")
    manifests = render(values)
    for name, flag in OPTIONAL.items():
        assert get(values, flag), flag
        assert manifests[name], name


def test_notes_render_with_default_values() -> None:
    """NOTES.txt renders and warns when no Redis is configured."""
    notes = Renderer(CHART, values_for(CHART / "ci" / "default-values.yaml")).render_all()["NOTES.txt"]
    assert "no Redis configured" in notes
    assert "<no value>" not in notes


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"settings": {"upstream": {"url": ""}}}, "settings.upstream.url is required"),
        ({"tls": {"existingSecret": ""}}, "tls.existingSecret is required"),
        ({"trust": {"existingConfigMap": ""}}, "trust.existingSecret or trust.existingConfigMap"),
        ({"trust": {"existingSecret": "a"}}, "only one of trust"),
        ({"registry": {"existingSecret": "a", "existingConfigMap": "b"}}, "only one of registry"),
        ({"policies": {"existingConfigMap": "a", "files": {"a.yaml": "x"}}}, "only one of policies"),
        ({"identityJwt": {"enabled": True}}, "identityJwt.existingSecret is required"),
        ({"terminationGracePeriodSeconds": 30}, "terminationGracePeriodSeconds must exceed"),
    ],
)
def test_render_refuses_incomplete_values(override: dict[str, Any], message: str) -> None:
    """Missing material and contradictions stop the install with the value to fix."""
    values = deep_merge(values_for(CHART / "ci" / "default-values.yaml"), override)
    with pytest.raises(TemplateError, match=re.escape(message)):
        render(values)


# --- the Deployment -----------------------------------------------------------------------


def pod_spec(manifests: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    spec: dict[str, Any] = the(manifests, "deployment.yaml")["spec"]["template"]["spec"]
    return spec


@ci
def test_pod_is_hardened(ci_file: Path) -> None:
    """Non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp."""
    spec = pod_spec(render(values_for(ci_file)))
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert spec["automountServiceAccountToken"] is False
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@ci
def test_probes_use_the_operator_port(ci_file: Path) -> None:
    """Liveness is /healthz and readiness /readyz, both on the operator (metrics) port."""
    (container,) = pod_spec(render(values_for(ci_file)))["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["port"] == "metrics"
    assert ports == {"tpp": 8443, "metrics": 9464}


@ci
def test_shutdown_waits_for_endpoints_then_drains(ci_file: Path) -> None:
    """preStop sleeps first; the grace period outlasts sleep plus drain."""
    values = values_for(ci_file)
    spec = pod_spec(render(values))
    (container,) = spec["containers"]
    pre_stop = container["lifecycle"]["preStop"]
    sleep = values["lifecycle"]["preStopSleepSeconds"]
    if "sleep" in pre_stop:
        assert pre_stop["sleep"]["seconds"] == sleep
    else:
        assert pre_stop["exec"]["command"][-1] == f"import time; time.sleep({sleep})"
    assert spec["terminationGracePeriodSeconds"] > sleep + values["lifecycle"]["drainTimeoutSeconds"]
    assert values["lifecycle"]["drainTimeoutSeconds"] > values["settings"]["upstream"]["total-timeout-s"]


@ci
def test_volumes_and_mounts_match(ci_file: Path) -> None:
    """Every mount has a volume and every volume is mounted; nothing uses subPath (reloads)."""
    spec = pod_spec(render(values_for(ci_file)))
    (container,) = spec["containers"]
    mounted = [m["name"] for m in container["volumeMounts"]]
    assert sorted(mounted) == sorted(v["name"] for v in spec["volumes"])
    assert all("subPath" not in m for m in container["volumeMounts"])


@ci
def test_workers_and_config_come_from_values(ci_file: Path) -> None:
    """The container runs `run --config <settings ConfigMap> --workers N`."""
    values = values_for(ci_file)
    (container,) = pod_spec(render(values))["containers"]
    assert container["args"] == [
        "run",
        "--config",
        "/etc/psd2-gateway/config/gateway.yaml",
        "--workers",
        str(values["workers"]),
    ]


def container_environ(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it, with secrets as placeholders."""
    environ: dict[str, str] = {}
    for var in container["env"]:
        value = var.get("value", f"secret-{var['name'].lower()}")
        environ[var["name"]] = re.sub(r"\$\(([A-Za-z0-9_]+)\)", lambda m: environ.get(m[1], m[0]), value)
    return environ


@ci
def test_rendered_settings_load_in_the_gateway(ci_file: Path, tmp_path: Path) -> None:
    """gateway.yaml from the ConfigMap plus the PSD2GW_* variables pass the gateway's own loader."""
    manifests = render(values_for(ci_file))
    (container,) = pod_spec(manifests)["containers"]
    settings_file = tmp_path / "gateway.yaml"
    settings_file.write_text(the(manifests, "configmap-settings.yaml")["data"]["gateway.yaml"])
    settings = load_settings(settings_file, container_environ(container))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (settings.listen.port, settings.metrics.port) == (ports["tpp"], ports["metrics"])
    assert settings.metrics.enabled
    assert settings.listen.host == settings.metrics.host == "0.0.0.0"


@ci
def test_every_file_the_gateway_reads_is_mounted(ci_file: Path) -> None:
    """Each path in a PSD2GW_* variable lies in a mounted volume (or the image's policy set)."""
    (container,) = pod_spec(render(values_for(ci_file)))["containers"]
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    paths = [
        v for k, v in container_environ(container).items() if k.startswith("PSD2GW_") and v.startswith("/")
    ]
    assert paths
    for path in paths:
        image_policies = path == "/etc/psd2-gateway/policies/berlin-group"
        assert image_policies or any(path.startswith(m + "/") or path == m for m in mounts), path


def test_image_policy_set_is_the_shipped_one() -> None:
    """Without policy values the gateway reads the set the Dockerfile copies into the image."""
    manifests = render(values_for(CHART / "ci" / "default-values.yaml"))
    (container,) = pod_spec(manifests)["containers"]
    assert container_environ(container)["PSD2GW_POLICIES"] == "/etc/psd2-gateway/policies/berlin-group"
    assert (ROOT / "policies" / "berlin-group").is_dir()
    assert "COPY policies/ /etc/psd2-gateway/policies/" in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("redis", "url"),
    [
        ({}, "memory://"),
        ({"host": "r", "scheme": "redis"}, "redis://r:6379/0"),
        ({"host": "r", "existingSecret": "s"}, "rediss://:secret-redis_password@r:6379/0"),
        (
            {"host": "r", "existingSecret": "s", "username": "u", "db": 2},
            "rediss://u:secret-redis_password@r:6379/2",
        ),
        ({"host": "r", "username": "u", "scheme": "redis+cluster"}, "redis+cluster://u@r:6379/0"),
    ],
)
def test_store_url_is_composed_from_redis_values(redis: dict[str, Any], url: str) -> None:
    """PSD2GW_STORE__URL is built from `redis`; the password only via $(REDIS_PASSWORD)."""
    values = deep_merge(values_for(CHART / "ci" / "default-values.yaml"), {"redis": redis})
    (container,) = pod_spec(render(values))["containers"]
    assert container_environ(container)["PSD2GW_STORE__URL"] == url
    raw = next(v for v in container["env"] if v["name"] == "PSD2GW_STORE__URL")["value"]
    assert "secret-" not in raw


def test_default_anti_affinity_is_soft() -> None:
    """Pods prefer, but do not require, different nodes."""
    affinity = pod_spec(render(values_for(CHART / "ci" / "default-values.yaml")))["affinity"]
    assert list(affinity["podAntiAffinity"]) == ["preferredDuringSchedulingIgnoredDuringExecution"]


# --- the other resources ------------------------------------------------------------------


def test_pdb_and_services_select_the_pods() -> None:
    """PDB (minAvailable 1), both Services and the ServiceMonitor select the gateway pods."""
    manifests = render(values_for(CHART / "ci" / "full-values.yaml"))
    pod_labels = the(manifests, "deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert defaults()["podDisruptionBudget"]["minAvailable"] == 1
    selectors = [
        the(manifests, "pdb.yaml")["spec"]["selector"]["matchLabels"],
        the(manifests, "service.yaml")["spec"]["selector"],
        the(manifests, "service-metrics.yaml")["spec"]["selector"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    metrics_service = the(manifests, "service-metrics.yaml")["metadata"]["labels"]
    monitor = the(manifests, "servicemonitor.yaml")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= metrics_service.items()
    assert monitor["endpoints"][0]["port"] == "metrics"
    assert monitor["endpoints"][0]["honorLabels"] is True


def test_hpa_targets_cpu_of_the_deployment() -> None:
    """The HPA scales the Deployment on CPU, and the Deployment then leaves replicas alone."""
    manifests = render(values_for(CHART / "ci" / "full-values.yaml"))
    hpa = the(manifests, "hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"]["name"] == the(manifests, "deployment.yaml")["metadata"]["name"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in the(manifests, "deployment.yaml")["spec"]


def test_network_policy_allows_only_the_configured_traffic() -> None:
    """Ingress to 8443 from TPP sources and 9464 from monitoring; egress to DNS, core, Redis, OCSP/CRL."""
    values = values_for(CHART / "ci" / "full-values.yaml")
    policy = the(render(values), "networkpolicy.yaml")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = [rule["ports"][0]["port"] for rule in policy["ingress"]]
    assert ingress_ports == [8443, 9464]
    assert policy["ingress"][1]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    egress_ports = [sorted({p["port"] for p in rule["ports"]}) for rule in policy["egress"]]
    assert egress_ports == [[53], [8080, 8443], [values["redis"]["port"]], [80]]
    assert all(rule["to"] for rule in policy["egress"]), "an empty `to` would allow every destination"


def test_network_policy_without_peers_opens_nothing() -> None:
    """With the flag on but no peers, only DNS egress and the monitoring ingress remain."""
    values = deep_merge(
        values_for(CHART / "ci" / "default-values.yaml"), {"networkPolicy": {"enabled": True}}
    )
    policy = the(render(values), "networkpolicy.yaml")["spec"]
    assert [r["ports"][0]["port"] for r in policy["ingress"]] == [9464]
    assert [r["ports"][0]["port"] for r in policy["egress"]] == [53]


def test_prometheus_rule_embeds_the_rules_file() -> None:
    """The PrometheusRule carries exactly the groups of rules/psd2-gateway-rules.yaml."""
    rule = the(render(values_for(CHART / "ci" / "full-values.yaml")), "prometheusrule.yaml")
    rules_file = yaml.safe_load((CHART / "rules" / "psd2-gateway-rules.yaml").read_text())
    assert rule["spec"] == rules_file


def test_dashboard_configmap_embeds_the_dashboard() -> None:
    """The Grafana sidecar ConfigMap is labelled and carries the dashboard JSON unchanged."""
    cm = the(render(values_for(CHART / "ci" / "full-values.yaml")), "configmap-dashboard.yaml")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART / "dashboards" / "psd2-gateway.json").read_text())
    assert json.loads(cm["data"]["psd2-gateway.json"]) == shipped


def test_inline_policies_become_the_policy_configmap() -> None:
    """policies.files lands in a ConfigMap, mounted, and PSD2GW_POLICIES points at it."""
    manifests = render(values_for(CHART / "ci" / "full-values.yaml"))
    data = the(manifests, "configmap-policies.yaml")["data"]
    assert yaml.safe_load(data["routes.yaml"])["routes"][0]["name"] == "ais-account-list"
    (container,) = pod_spec(manifests)["containers"]
    assert container_environ(container)["PSD2GW_POLICIES"] == "/etc/psd2-gateway/policy-set"


# --- the dashboard ------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "dashboards" / "psd2-gateway.json").read_text())
    return loaded


def query_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_dashboard_panels_have_a_datasource_and_queries() -> None:
    """Every panel (rows aside) and every query names the Prometheus datasource variable."""
    for panel in query_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_uses_only_exported_metrics() -> None:
    """Each expression only names series the gateway exports (or Prometheus adds)."""
    unknown = {
        panel["title"]: unknown_series(target["expr"])
        for panel in query_panels()
        for target in panel["targets"]
        if unknown_series(target["expr"])
    }
    assert unknown == {}


@pytest.mark.parametrize(
    "needle",
    [
        "sum by (service) (rate(psd2gw_requests_total",
        "sum by (service, outcome) (rate(psd2gw_requests_total",
        "sum by (code) (rate(psd2gw_policy_rejections_total",
        "sum by (rule, mode) (rate(psd2gw_policy_rejections_total",
        "histogram_quantile(0.99, sum by (le) (rate(psd2gw_gateway_duration_seconds_bucket",
        "histogram_quantile(0.5, sum by (le) (rate(psd2gw_upstream_duration_seconds_bucket",
        "psd2gw_store_errors_total",
        "psd2gw_store_duration_seconds_bucket",
        "psd2gw_tpp_certificate_expiry_days",
        "psd2gw_config_reloads_total",
    ],
)
def test_dashboard_shows(needle: str) -> None:
    """The dashboard covers traffic, rejections, latency quantiles, store, certificates, reloads."""
    assert any(needle in t["expr"] for p in query_panels() for t in p["targets"])


def test_dashboard_layout_is_consistent() -> None:
    """Panel ids are unique, every panel has a grid position, and the variables exist."""
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all({"x", "y", "w", "h"} <= set(p["gridPos"]) for p in panels)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
    variables = {v["name"] for v in dashboard()["templating"]["list"]}
    assert variables == {"datasource", "namespace", "service"}
