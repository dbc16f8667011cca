"""Java, and the Kafka jars Maven assembles from Maven Central into LIBS_DIR."""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from stack.apache_kafka import StackError, say
from stack.apache_kafka.paths import LIBS_DIR, POM, POM_HASH_FILE, REPO, STATE_DIR
from stack.processes import read_text

MIN_JAVA = 17
KAFKA_JAR = re.compile(r"kafka_2\.13-(?P<version>[^-]+(?:-[A-Za-z0-9]+)?)\.jar")


def java_binary() -> str:
    """The `java` of JAVA_HOME or PATH, checked to be at least Java 17."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise StackError(
            f"`java` not found: install a JDK/JRE {MIN_JAVA}+ "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    major = java_major(probe.stderr + probe.stdout)
    if major is None or major < MIN_JAVA:
        raise StackError(f"{java} is Java {major or '?'}; Kafka needs Java {MIN_JAVA}+")
    return java


def java_major(version_output: str) -> int | None:
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def kafka_version() -> str | None:
    """The version in the cached kafka_2.13-<version>.jar name, if the cache is filled."""
    for jar in sorted(LIBS_DIR.glob("kafka_2.13-*.jar")):
        if match := KAFKA_JAR.fullmatch(jar.name):
            return match.group("version")
    return None


def ensure_libs() -> None:
    """Fill LIBS_DIR with the pom's runtime classpath unless it is already there and current."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if kafka_version() is not None and read_text(POM_HASH_FILE) == digest:
        return
    # Resolved beside the cache and swapped in whole, so an interrupted run leaves no half cache.
    staging = STATE_DIR / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    copy_dependencies(staging)
    (staging / POM_HASH_FILE.name).write_text(digest)
    shutil.rmtree(LIBS_DIR, ignore_errors=True)
    staging.rename(LIBS_DIR)


def copy_dependencies(target: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("`mvn` not found: install Maven 3.8+ (e.g. apt-get install maven)")
    say(f"resolving the Kafka jars of {POM.relative_to(REPO)} with Maven ...")
    command = [
        mvn, "-q", "-B", "-f", str(POM),
        "dependency:copy-dependencies", f"-DoutputDirectory={target}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise StackError(f"mvn exited with {result.returncode} resolving {POM}:\n{output}")
