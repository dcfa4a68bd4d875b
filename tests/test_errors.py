"""Every error the plugin defines derives from one base class, so a caller can tell the plugin's
worded errors from a bug with one ``except``; value errors stay ValueErrors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest_agentbench
from pytest_agentbench.errors import AgentbenchError


def _defined_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(pytest_agentbench.__path__, "pytest_agentbench."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, BaseException) and obj.__module__ == info.name]
    return found


def test_every_error_of_the_plugin_has_the_one_base():
    errors = _defined_exceptions()
    assert len(errors) > 20  # the walk really found them
    assert [e.__qualname__ for e in errors if not issubclass(e, AgentbenchError)] == []


def test_value_errors_stay_value_errors():
    from pytest_agentbench.schemas.models import ModelConfigError
    from pytest_agentbench.trees.safe_fs import TreeError

    assert issubclass(ModelConfigError, ValueError) and issubclass(ModelConfigError, AgentbenchError)
    assert issubclass(TreeError, AgentbenchError) and not issubclass(TreeError, ValueError)
