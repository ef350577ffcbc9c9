"""`constraints.txt` (the lock `make` installs with) covers every dependency `pyproject.toml` names.

A dependency added to pyproject.toml without `make lock` would install at whatever version is
newest; a lock pin outside pyproject's bounds would make `make` fail on a fresh machine.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RELOCK = "regenerate it: make lock (make lock VENV=/path/to/venv for another venv)"


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        found += [Requirement(r) for r in extra]
    here = default_environment()
    return [
        r
        for r in found
        if canonicalize_name(r.name) != "spotifier"
        and (r.marker is None or r.marker.evaluate({**here, "extra": ""}))
    ]


def pins() -> dict[str, Version]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: '{line}' is not name==version; {RELOCK}"
            out[canonicalize_name(name)] = Version(version)
    return out


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    locked = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in constraints.txt; {RELOCK}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"constraints.txt pins {name}=={locked[name]}, outside pyproject's "
            f"'{requirement}'; {RELOCK}"
        )


def test_torch_stays_pinned_without_an_index_label() -> None:
    assert pins()["torch"] == Version("2.13.0")
    text = (ROOT / "constraints.txt").read_text()
    assert "+cpu" not in text  # a local label names an index, and breaks other machines
