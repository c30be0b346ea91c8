"""Metrics through `evaluate`: the Hub module when the Hub is reachable, the course's own otherwise.

`load_metric("spearmanr")` returns an `evaluate` module and prints which implementation it is:
`evaluate`'s own module from the Hugging Face Hub, or the course's offline copy in
`course_utils/metric_modules/<name>/<name>.py`, loaded with `evaluate.load(<folder>)`. Both take
the same arguments and return the same keys, so the calling code does not change (tests check the
course's copy against scipy). Add a metric by adding its folder (see `metric_modules/__init__.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from course_utils.errors import CourseError
from course_utils.hub import hub_reachable, offline_mode

METRIC_DIR = Path(__file__).resolve().parent / "metric_modules"
Implementation = Literal["auto", "hub", "course"]


def local_metrics() -> list[str]:
    """Names of the metrics the course ships (folders `<name>/<name>.py`)."""
    return sorted(p.name for p in METRIC_DIR.iterdir() if (p / f"{p.name}.py").is_file())


def metric_path(name: str) -> Path:
    """The folder of the course's own module for metric `name`."""
    if name not in local_metrics():
        raise CourseError(
            f"The course has no offline module for metric {name!r}.",
            fix=f"use one of {', '.join(local_metrics())}, or add metric_modules/{name}/{name}.py",
        )
    return METRIC_DIR / name


def load_metric(
    name: str,
    implementation: Implementation = "auto",
    verbose: bool = True,
    config_name: str | None = None,
) -> Any:
    """`evaluate` module for metric `name`; says which implementation it is.

    implementation: "hub" (evaluate's module from the Hub), "course" (the offline copy), or
    "auto": the Hub when it is reachable and HF_HUB_OFFLINE is unset, else the course's copy.
    `config_name` selects a configuration, e.g. load_metric("glue", config_name="sst2").
    """
    import evaluate

    if implementation not in ("auto", "hub", "course"):
        raise CourseError(
            f"Unknown implementation {implementation!r}.", fix="use 'auto', 'hub' or 'course'"
        )
    path = metric_path(name)  # fails early, online too, for a metric without an offline copy
    use_hub = implementation == "hub" or (
        implementation == "auto" and not offline_mode() and hub_reachable()
    )
    if use_hub:
        try:
            metric = evaluate.load(name, config_name)
        except Exception as err:  # evaluate raises FileNotFoundError, ConnectionError, ...
            if implementation == "hub":
                raise CourseError(
                    f"Could not load the metric {name!r} from the Hub: {err}",
                    fix="check the connection, or use implementation='course' (offline copy)",
                ) from err
            # Not silent: the line below says that the offline copy replaces the Hub module
            print(f"metric {name}: the Hub module failed to load ({type(err).__name__}); ", end="")
        else:
            if verbose:
                print(f"metric {name}: evaluate's module from the Hugging Face Hub")
            return metric
    metric = evaluate.load(str(path), config_name)
    if verbose:
        print(f"metric {name}: the course's own evaluate module (course_utils/metric_modules)")
    return metric


def spearman(predictions: Any, references: Any, metric: Any = None) -> float:
    """Spearman's rho of two score lists with `metric` (default: load_metric("spearmanr"))."""
    metric = metric if metric is not None else load_metric("spearmanr")
    result = metric.compute(predictions=list(map(float, predictions)), references=list(references))
    return float(result["spearmanr"])
