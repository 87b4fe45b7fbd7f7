"""The container image recipe agrees with pyproject.toml, the settings defaults and the chart.

No Docker engine runs here: the Dockerfile is parsed into instructions and checked.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def args(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def build_args() -> dict[str, str]:
    return dict(a.split("=", 1) for a in args("ARG") if "=" in a)


def stages() -> list[str]:
    """Base image of each stage, build arguments substituted."""
    values = build_args()
    images = [a.split()[0] for a in args("FROM")]
    return [re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], image) for image in images]


def runtime_stage() -> list[tuple[str, str]]:
    """Instructions of the last stage (the image that runs)."""
    last_from = max(n for n, (word, _) in enumerate(instructions()) if word == "FROM")
    return instructions()[last_from:]


def test_python_version_matches_requires_python() -> None:
    """Both stages use python:<the lowest version pyproject allows>-slim."""
    requires = PYPROJECT["project"]["requires-python"]
    m = re.fullmatch(r">=\s*(\d+\.\d+)", requires)
    assert m, f"unexpected requires-python {requires!r}"
    assert stages() == [f"python:{m[1]}-slim", f"python:{m[1]}-slim"]


def test_build_is_multi_stage() -> None:
    """A named builder stage makes the venv; the runtime stage only copies it."""
    assert re.fullmatch(r"\S+ AS builder", args("FROM")[0])
    copies = [rest for word, rest in runtime_stage() if word == "COPY"]
    assert "--from=builder /opt/venv /opt/venv" in copies
    assert not any("pip" in rest for word, rest in runtime_stage() if word == "RUN")


def test_installed_extra_exists_in_pyproject() -> None:
    """The wheel is installed with an extra that pyproject.toml defines (speed: uvloop)."""
    installs = [rest for rest in args("RUN") if "pip install" in rest]
    extras = {e for rest in installs for e in re.findall(r"\[([a-z0-9_,-]+)\]", rest)}
    assert extras == {"speed"}
    assert set(extras) <= set(PYPROJECT["project"]["optional-dependencies"])


def test_runs_as_a_fixed_non_root_user() -> None:
    """USER is UID/GID 10001, created with that UID, matching the chart's runAsUser."""
    users = [rest for word, rest in runtime_stage() if word == "USER"]
    assert users == ["10001:10001"]
    created = " ".join(rest for word, rest in runtime_stage() if word == "RUN")
    assert "--uid 10001" in created
    assert "--gid 10001" in created
    assert "runAsUser: 10001" in (ROOT / "helm" / "psd2-gateway" / "values.yaml").read_text()


def test_entrypoint_is_the_console_script() -> None:
    """ENTRYPOINT (exec form) is the console script pyproject.toml installs; CMD runs the config."""
    (entrypoint,) = args("ENTRYPOINT")
    (script,) = PYPROJECT["project"]["scripts"]
    assert json.loads(entrypoint) == [script]
    (cmd,) = args("CMD")
    assert json.loads(cmd) == ["run", "--config", "/etc/psd2-gateway/gateway.yaml"]


def test_exposed_ports_are_the_settings_defaults() -> None:
    """EXPOSE lists the TPP and operator ports the gateway listens on by default."""
    exposed = {int(p.split("/")[0]) for rest in args("EXPOSE") for p in rest.split()}
    defaults = Settings()
    assert exposed == {defaults.listen.port, defaults.metrics.port}


def test_image_ships_policies_and_settings() -> None:
    """The Berlin Group policy set and the documented settings file are in /etc/psd2-gateway."""
    copies = args("COPY")
    assert "policies/ /etc/psd2-gateway/policies/" in copies
    assert "config/gateway.yaml /etc/psd2-gateway/gateway.yaml" in copies
    (workdir,) = [rest for word, rest in runtime_stage() if word == "WORKDIR"]
    assert workdir == "/etc/psd2-gateway", "relative paths in gateway.yaml resolve from here"


def test_no_shell_at_run_time() -> None:
    """ENTRYPOINT and CMD use exec form; Kubernetes probes replace HEALTHCHECK."""
    assert all(rest.startswith("[") for rest in args("ENTRYPOINT") + args("CMD"))
    assert args("HEALTHCHECK") == []


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last match wins)."""
    result = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/").removeprefix("**/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(parts[n], pattern) for n, p in enumerate(prefixes)
        ):
            result = not negate
    return result


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",
        "gateway/cli.py",
        "gateway/store/base.py",
        "policies/berlin-group/routes.yaml",
    ],
)
def test_build_context_keeps_what_the_build_copies(path: str) -> None:
    """.dockerignore lets every COPY source through."""
    assert (ROOT / path).exists()
    assert not ignored(path)


@pytest.mark.parametrize(
    "path", [".git/config", "certs/dev/ca/ca.pem", "tests/conftest.py", ".venv/bin/python"]
)
def test_build_context_leaves_out_keys_and_clutter(path: str) -> None:
    """Dev keys, tests, the venv and git history never reach the image's build context."""
    assert ignored(path)
