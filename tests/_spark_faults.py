"""An explainer that fails its first attempt at one partition, for the Spark retry test: Spark's
workers import it by name (the tests directory is on their PYTHONPATH)."""

from __future__ import annotations

import os

from treelens import TreeExplainer


class FailingOnce(TreeExplainer):
    """A TreeExplainer whose first attempt at partition ``partition`` raises (and leaves a file
    in ``marker_dir`` saying so); the retry succeeds."""

    marker_dir: str = ""
    partition: int = 1

    def shap_values(self, X, **kwargs):
        from pyspark import TaskContext

        task = TaskContext.get()
        if task is not None and task.partitionId() == self.partition and task.attemptNumber() == 0:
            with open(os.path.join(self.marker_dir, f"failed-{task.stageId()}"), "w") as f:
                f.write("injected")
            raise RuntimeError("injected failure of a task's first attempt")
        return super().shap_values(X, **kwargs)
