"""Shared pytest setup: hypothesis profiles (CI: bounded examples, no deadline, derandomised)
and the local Spark session of the Spark tests."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (2 cores), started once for every Spark test and stopped after.
    In CI pyspark must be there (a missing one fails, never skips)."""
    if not os.environ.get("CI"):
        pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    # Python workers run this interpreter (not the first python3 on PATH), and import test
    # helpers (_spark_faults) by name: the tests directory goes on the PYTHONPATH the JVM (and
    # so each worker) inherits.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH", "")) if p
    )
    # local[2, 4]: 2 cores, and a failed task is retried (up to 4 attempts), as on a cluster.
    session = (
        SparkSession.builder.master("local[2, 4]")
        .appName("treelens-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
