"""A real Apache Kafka broker (single-node KRaft) from Maven Central jars, without Docker.

    python -m stack.apache_kafka up       # start or reuse; prints KAFKA_BOOTSTRAP_SERVERS=host:port
    python -m stack.apache_kafka down     # stop it and delete its data
    python -m stack.apache_kafka status   # the running broker as JSON; exit 1 when none
    python -m stack.apache_kafka version  # Kafka version of the cached jars

Maven resolves deploy/kafka/pom.xml into .cache/kafka/libs, again only when the pom
changes. The broker's state file, logs and data directory live in .cache/kafka as well.
Only the standard library is used so this runs before any project dependency is installed.

`jars` fetches and assembles the artifacts, `broker` configures, starts and stops the broker,
`state` records the running one, `wire` asks it whether it serves, `__main__` is the command line.
"""

import sys


class StackError(Exception):
    """A failure reported as one message and exit status 1."""


def say(message: str) -> None:
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
