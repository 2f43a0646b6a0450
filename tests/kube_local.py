"""The Kubernetes manifests (deploy/kubernetes/) as Pods that ``podman kube play`` runs here.

The manifests stay the one source of truth: a Pod is made from the pod template of the
Deployment or the Job as it is written, with only what a cluster provides and this machine does
not, replaced:

- the Secret: each ``secretKeyRef`` is resolved from the values the test gives (a reference to
  a key the test does not give fails), as the kubelet resolves it from the Secret;
- the network: ``hostNetwork`` with gunicorn bound to a free 127.0.0.1 port (no container
  network here, as in tests/test_container.py), so the container ports are dropped;
- the image: the one ``make test-container`` builds instead of the registry's;
- the probes: podman would run them as healthchecks through systemd timers, which this machine
  lacks; the test calls the probes' own paths (``probe_paths``) itself;
- the settings a cluster gives through its DNS names and Ingress (``DJANGO_ALLOWED_HOSTS``) and
  what a shared 2-core machine can start (``GUNICORN_WORKERS``), given as ``env``;
- one host folder mounted in every container (``extra_mounts``): the database both pods share,
  standing in for the managed PostgreSQL that ``DATABASE_URL`` names in a cluster.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def manifest(name: str) -> dict:
    """One resource from deploy/kubernetes/ (each file holds one)."""
    return yaml.safe_load((MANIFESTS / name).read_text())


def pod_template(resource: dict) -> dict:
    """The pod template of a Deployment or a Job."""
    return resource["spec"]["template"]


def probe_paths(resource: dict) -> dict[str, str]:
    """``{"livenessProbe": "/healthz", ...}`` for the first container of the pod template."""
    container = pod_template(resource)["spec"]["containers"][0]
    return {probe: container[probe]["httpGet"]["path"] for probe in PROBES if probe in container}


def resolved_env(entries: list[dict], secrets: dict[str, dict[str, str]],
                 overrides: dict[str, str]) -> list[dict]:
    env = []
    for entry in entries:
        name = entry["name"]
        if name in overrides:
            env.append({"name": name, "value": overrides[name]})
        elif "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            env.append({"name": name, "value": secrets[ref["name"]][ref["key"]]})
        else:
            env.append(entry)
    named = {entry["name"] for entry in entries}
    env += [{"name": k, "value": v} for k, v in overrides.items() if k not in named]
    return env


def local_pod(resource: dict, *, name: str, image: str, secrets: dict[str, dict[str, str]],
              env: dict[str, str],
              extra_mounts: dict[str, tuple[Path, str]] | None = None) -> dict:
    """A Pod for ``podman kube play`` from ``resource``'s pod template (see the module's
    docstring for what changes); ``extra_mounts``: volume name -> (host folder, mount path)
    added to every container."""
    template = copy.deepcopy(pod_template(resource))
    spec = template["spec"]
    spec["hostNetwork"] = True
    for container in spec["containers"]:
        container["image"] = image
        container["env"] = resolved_env(container.get("env", []), secrets, env)
        container.pop("ports", None)
        for probe in PROBES:
            container.pop(probe, None)
        for volume, (_, mount_path) in (extra_mounts or {}).items():
            container.setdefault("volumeMounts", []).append(
                {"name": volume, "mountPath": mount_path})
    for volume, (folder, _) in (extra_mounts or {}).items():
        spec.setdefault("volumes", []).append(
            {"name": volume, "hostPath": {"path": str(folder), "type": "Directory"}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": template["metadata"].get("labels", {})},
            "spec": spec}

