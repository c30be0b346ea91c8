"""The course's own `evaluate` metric modules, one folder per metric (`<name>/<name>.py`).

`course_utils.metrics.load_metric(name)` loads `evaluate`'s module from the Hub when the Hub is
reachable and otherwise the folder here with `evaluate.load(<folder>)`. To add a metric (e.g.
`accuracy` for an SST-2 harness), add `<name>/<name>.py` defining one `evaluate.Metric` subclass
whose `compute` takes the same arguments and returns the same keys as the Hub module, and a test
that the two agree.
"""
