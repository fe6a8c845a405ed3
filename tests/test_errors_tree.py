"""One tree of errors: every exception class of the codebase subclasses
graphql_api.errors.StrongroomError or is listed by name in
graphql_api.errors.OUTSIDE_THE_TREE, and the tree's docstring shows every
public class of the tree (private ones, `_Name`, are a module's detail)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import graphql_api
import models
import plugins
from graphql_api import errors
from graphql_api.client import ClientConfigError
from graphql_api.events import SubscriberOverflow
from graphql_api.settings import ConfigError as SettingsConfigError

PACKAGES = (graphql_api, plugins, models)


def modules() -> list[ModuleType]:
    found = []
    for package in PACKAGES:
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if info.name.rpartition(".")[2] != "__main__":  # runs the program when imported
                found.append(importlib.import_module(info.name))
    return found


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined (not imported) in our modules, by dotted name."""
    classes: dict[str, type[BaseException]] = {}
    for module in modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                classes[f"{value.__module__}.{value.__qualname__}"] = value
    return classes


def test_the_walk_finds_the_known_exceptions() -> None:
    # Guards the walk itself: finding nothing would pass the test below.
    found = exception_classes()
    assert {
        "graphql_api.errors.Conflict",
        "plugins.interfaces.KeyUnavailable",
        "graphql_api.events.SubscriberOverflow",
    } <= set(found)
    assert len(found) >= 20


def test_every_exception_is_in_the_tree_or_listed() -> None:
    stray = sorted(
        name
        for name, cls in exception_classes().items()
        if not issubclass(cls, errors.StrongroomError) and name not in errors.OUTSIDE_THE_TREE
    )
    assert not stray, f"subclass StrongroomError or list these in graphql_api.errors.OUTSIDE_THE_TREE: {stray}"


@pytest.mark.parametrize("name", errors.OUTSIDE_THE_TREE)
def test_every_listed_name_is_an_exception_outside_the_tree(name: str) -> None:
    module_name, _, qualname = name.rpartition(".")
    cls = getattr(importlib.import_module(module_name), qualname, None)
    assert isinstance(cls, type) and issubclass(cls, BaseException), f"{name} is not an exception class (stale entry?)"
    assert cls.__module__ == module_name, f"{name} is defined in {cls.__module__}"
    assert not issubclass(cls, errors.StrongroomError), f"{name} is in the tree: do not list it"


def test_the_docstring_tree_shows_every_class_of_the_tree() -> None:
    tree = [cls for cls in exception_classes().values() if issubclass(cls, errors.StrongroomError)]
    doc = errors.__doc__ or ""
    missing = sorted(cls.__name__ for cls in tree if not cls.__name__.startswith("_") and cls.__name__ not in doc)
    assert not missing, f"add to the tree in graphql_api/errors.py's docstring: {missing}"


def test_one_config_error_under_every_name() -> None:
    assert ClientConfigError is SettingsConfigError is plugins.ConfigError
    error = plugins.ConfigError("PORT", "must be a whole number")
    assert (error.variable, error.message, str(error)) == (
        "PORT",
        "must be a whole number",
        "PORT: must be a whole number",
    )
    # Still a ValueError, for code written against the older ValueError("VARIABLE: ...") convention.
    assert isinstance(error, ValueError)


def test_a_subscriber_overflow_is_rate_limited_and_a_failed_check_is_a_conflict() -> None:
    assert issubclass(SubscriberOverflow, errors.RateLimited) and SubscriberOverflow.code == "RATE_LIMITED"
    failed = errors.RotationCheckFailed("rotation failed its check", secret_id="s", version=3, reason="RuntimeError")
    assert isinstance(failed, errors.Conflict) and failed.code == "CONFLICT"
    assert (failed.secret_id, failed.version, failed.reason) == ("s", 3, "RuntimeError")
