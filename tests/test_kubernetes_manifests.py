"""deploy/kubernetes/ checked offline: every manifest against the Kubernetes schemas (the
schemas ship inside the kubernetes-validate package; nothing is fetched), strictly (an unknown
field is an error), and the few things the deployment relies on, read from the manifests
themselves. tests/test_kubernetes_pods.py runs them with podman."""

from __future__ import annotations

import copy
import re

import kubernetes_validate
import pytest

from tests.kube_local import MANIFESTS, manifest, pod_template, probe_paths

# The oldest Kubernetes release the manifests are meant for, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
FILES = sorted(p.name for p in MANIFESTS.glob("*.yaml"))
WEB_LABELS = {"app.kubernetes.io/name": "prcrs-web", "app.kubernetes.io/component": "web"}


def test_the_manifests_are_all_there():
    assert FILES == ["deployment.yaml", "horizontal-pod-autoscaler.yaml", "migrate-job.yaml",
                     "pod-disruption-budget.yaml", "service.yaml"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", FILES)
def test_each_manifest_is_valid_against_the_kubernetes_schema(name, version):
    kubernetes_validate.validate(manifest(name), version, strict=True)


@pytest.mark.parametrize("mistake", ["a field spelled wrong", "a number as text",
                                     "a required field missing"])
def test_the_validator_refuses_a_broken_deployment(mistake):
    broken = copy.deepcopy(manifest("deployment.yaml"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    if mistake == "a field spelled wrong":
        container["livenesProbe"] = container.pop("livenessProbe")
    elif mistake == "a number as text":
        broken["spec"]["replicas"] = "two"
    else:
        del container["name"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_deployment_probes_liveness_on_healthz_and_readiness_on_readyz():
    assert probe_paths(manifest("deployment.yaml")) == {
        "startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}


@pytest.mark.parametrize("name", ["deployment.yaml", "migrate-job.yaml"])
def test_pods_run_as_the_images_non_root_user_with_a_read_only_root(name):
    spec = pod_template(manifest(name))["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user prcrs
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", ["deployment.yaml", "migrate-job.yaml"])
def test_secrets_are_referenced_never_written(name):
    text = (MANIFESTS / name).read_text()
    container = pod_template(manifest(name))["spec"]["containers"][0]
    env = {entry["name"]: entry for entry in container["env"]}
    for secret in ("DJANGO_SECRET_KEY", "DATABASE_URL"):
        assert env[secret]["valueFrom"]["secretKeyRef"] == {"name": "prcrs", "key": secret}
    assert not re.search(r"postgres://\S+:\S+@", text.split("apiVersion:", 1)[1])


def test_migrations_run_in_the_job_and_never_in_the_web_pods():
    web = pod_template(manifest("deployment.yaml"))["spec"]["containers"][0]
    job = manifest("migrate-job.yaml")
    migrate = pod_template(job)["spec"]["containers"][0]
    assert {"name": "PRCRS_MIGRATE_ON_START", "value": "0"} in web["env"]
    assert {"name": "PRCRS_MIGRATE_ON_START", "value": "1"} in migrate["env"]
    assert migrate["image"] == web["image"]
    assert pod_template(job)["spec"]["restartPolicy"] == "Never"


def test_the_service_budget_and_autoscaler_point_at_the_web_pods():
    deployment = manifest("deployment.yaml")
    assert deployment["spec"]["selector"]["matchLabels"] == WEB_LABELS
    assert pod_template(deployment)["metadata"]["labels"] == WEB_LABELS
    service = manifest("service.yaml")
    assert service["spec"]["selector"] == WEB_LABELS
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert pod_template(deployment)["spec"]["containers"][0]["ports"][0]["name"] == "http"
    assert manifest("pod-disruption-budget.yaml")["spec"]["selector"]["matchLabels"] == WEB_LABELS
    target = manifest("horizontal-pod-autoscaler.yaml")["spec"]
    assert target["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": deployment["metadata"]["name"]}
    # One pod may go (a drain, a crash) while another serves.
    assert target["minReplicas"] >= 2
    assert manifest("pod-disruption-budget.yaml")["spec"]["minAvailable"] < target["minReplicas"]


def test_the_grace_period_outlasts_gunicorns_graceful_timeout():
    spec = pod_template(manifest("deployment.yaml"))["spec"]
    conf = (MANIFESTS.parent.parent / "gunicorn.conf.py").read_text()
    graceful = int(re.search(r'"GUNICORN_GRACEFUL_TIMEOUT",\s*"?(\d+)', conf).group(1))
    assert spec["terminationGracePeriodSeconds"] > graceful
