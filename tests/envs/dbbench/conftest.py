"""DB Bench fixtures: a hand-made table (our own data), and a MariaDB for `mysql` tests.

`mysql_url` uses ABTUNE_MYSQL_URL when set, else starts a managed MariaDB for the session and stops it after.
"""

from __future__ import annotations

import os

import pytest

from agentbench_tuning.envs.dbbench import DBTask, server


@pytest.fixture(scope="session")
def mysql_url(tmp_path_factory):
    if os.environ.get("ABTUNE_MYSQL_URL"):
        yield os.environ["ABTUNE_MYSQL_URL"]
        return
    if not server.binaries_available():
        pytest.skip("MariaDB binaries (mariadbd, mariadb-install-db) not installed: "
                    "apt-get install -y mariadb-server mariadb-client, or set ABTUNE_MYSQL_URL")
    data = tmp_path_factory.mktemp("mariadb")
    info = server.start(data)
    try:
        yield info.url
    finally:
        server.stop(data)


def city_task(type_: str = "other", label=None, answer_md5=None) -> DBTask:
    """Five rows of invented towns; numbers stored as text, a name with an apostrophe and a '?' cell."""
    return DBTask(
        index=0,
        description="Which town has the most bridges?",
        add_description="The name of this table is Towns of Vell (2020), and the headers of this table are "
                        "No.,Town,Bridges,Founded.",
        type=type_,
        table_name="Towns of Vell (2020)",
        columns=["No.", "Town", "Bridges", "Founded"],
        rows=[["1", "Arlo", "12", "March 3, 1901"], ["2", "Bexa", "7", "May 9, 1877"],
              ["3", "Cor d'Ine", "30", "June 1, 1950"], ["4", "Dunmere", "9", "July 4, 1921"],
              ["?", "Elsby", "3", "April 2, 1999"]],
        label=label if label is not None else ["Cor d'Ine"],
        answer_md5=answer_md5,
    )


@pytest.fixture
def towns() -> DBTask:
    return city_task()


@pytest.fixture
def city():
    """The `city_task` builder, for tests that need the towns table as another sample type."""
    return city_task
