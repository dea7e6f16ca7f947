"""Every module of the five packages declares its public names, and each of them imports."""

import importlib
import pkgutil

import pytest

PACKAGES = ["whyflow", "flows", "tasks", "estimators", "data"]


def _modules() -> list[str]:
    found = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        found.append(package)
        found += [m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")]
    return sorted(found)


MODULES = _modules()


def test_the_walk_finds_the_modules_named_in_contributing():
    assert {"tasks.plan", "tasks.graph.model", "estimators.registry", "estimators.streaming.estimators",
            "flows.analysis", "flows.cli"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_imports(name):
    module = importlib.import_module(name)
    is_package = hasattr(module, "__path__")
    assert is_package or hasattr(module, "__all__"), f"{name} has no __all__"
    for public in getattr(module, "__all__", []):
        assert hasattr(module, public), f"{name}.{public}"
