"""prometheus_client's text parsers without the rest of the package.

``import prometheus_client.parser`` runs the package's ``__init__`` first, which loads its
metrics, collectors and HTTP exposition server (``http.server``, ``gzip``, ``urllib``): about
0.03-0.05 s, more than a tenth of a 100,000-series read and lint. The parsers need only
``metrics_core``, ``samples``, ``validation`` and ``utils``. When the package is not loaded yet,
``text_parser`` registers it as a module whose ``__init__`` has not run, imports the parser
modules into it, and leaves a module ``__getattr__`` that runs the package's ``__init__`` the
first time anything else of the package is asked for (``from prometheus_client import
Counter``): the package then is what a plain import gives.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

PACKAGE = "prometheus_client"
Parser = Callable[[str], Iterable["Metric"]]


def text_parser(openmetrics: bool) -> Parser:
    """``text_string_to_metric_families`` of the OpenMetrics parser or the text-format one."""
    _package()
    name = "openmetrics.parser" if openmetrics else "parser"
    return importlib.import_module(f"{PACKAGE}.{name}").text_string_to_metric_families


def _package() -> ModuleType:
    """``prometheus_client`` as imported, or registered with its ``__init__`` deferred."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        return importlib.import_module(PACKAGE)  # raises the usual ModuleNotFoundError
    package = importlib.util.module_from_spec(spec)

    def rest(name: str) -> Any:
        """The package's ``__init__`` run on the first ask for any other name."""
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = rest  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    return package
