"""Resolve the Apache Kafka broker's runtime jars from Maven Central into a per-version cache.

The cache is ``${XDG_CACHE_HOME:-~/.cache}/onedoor/kafka/<version>/lib``. A directory there
is complete only once it holds the marker file: Maven resolves into a temporary sibling which
is renamed into place, so an interrupted fetch never leaves a half-filled ``lib`` behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from onedoor.errors import ValidationFailed
from onedoor.kafka._files import file_lock, tail_text
from onedoor.kafka.errors import KafkaJarsUnavailable
from onedoor.logging import get_logger

log = get_logger(__name__)

MARKER = ".onedoor-complete"
_COPY_DEPENDENCIES = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies"
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cache_root() -> Path:
    """Return the root of the jar cache, honouring ``XDG_CACHE_HOME``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onedoor" / "kafka"


def lib_dir(version: str, *, root: Path | None = None) -> Path:
    """Return where the jars of Kafka ``version`` live (resolved or not)."""
    return (root or cache_root()) / version / "lib"


def is_resolved(version: str, *, root: Path | None = None) -> bool:
    """Tell whether the jars of ``version`` are completely in the cache."""
    return (lib_dir(version, root=root) / MARKER).is_file()


def classpath(lib: Path) -> str:
    """Return the JVM classpath for a resolved ``lib`` directory (the JVM expands the wildcard)."""
    return str(lib / "*")


def render_pom(version: str) -> str:
    """Return the packaged pom with the Kafka version filled in."""
    template = resources.files("onedoor.kafka").joinpath("pom.xml").read_text(encoding="utf-8")
    return template.replace("${kafka.version}", version)


def ensure_jars(version: str, *, root: Path | None = None, mvn: str = "mvn", timeout: float = 900.0) -> Path:
    """Resolve the broker jars of Kafka ``version`` unless cached; return the ``lib`` directory.

    Raises:
        ValidationFailed: ``version`` is not a plain ``X.Y.Z`` release.
        KafkaJarsUnavailable: Maven is missing, failed or produced no broker jar.
    """
    if not _VERSION.match(version):
        raise ValidationFailed("kafka.version_invalid", f"Kafka version must look like 3.9.1, got {version!r}")
    lib = lib_dir(version, root=root)
    if (lib / MARKER).is_file():
        return lib
    mvn_path = shutil.which(mvn)
    if mvn_path is None:
        raise KafkaJarsUnavailable(
            f"Maven ({mvn}) is not on PATH. Install Maven 3.6+ (e.g. `apt-get install maven`), or point "
            "KAFKA_BOOTSTRAP_SERVERS at an existing broker."
        )
    version_dir = lib.parent
    version_dir.mkdir(parents=True, exist_ok=True)
    # Two test sessions may fetch at once; the second waits, then finds the marker.
    with file_lock(version_dir / ".lock"):
        if (lib / MARKER).is_file():
            return lib
        log.info("kafka.jars.resolving", version=version, cache=str(version_dir))
        with tempfile.TemporaryDirectory(dir=version_dir, prefix=".resolve-") as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(render_pom(version), encoding="utf-8")
            out = work / "lib"
            _run_maven(mvn_path, work, out, timeout)
            if not (out / f"kafka_2.13-{version}.jar").is_file():
                raise KafkaJarsUnavailable(
                    f"Maven finished but kafka_2.13-{version}.jar is not among the resolved jars in {out}"
                )
            (out / MARKER).write_text(version + "\n", encoding="utf-8")
            if lib.exists():
                # Left by a fetch that predates the marker scheme or was tampered with: not trusted.
                shutil.rmtree(lib)
            out.rename(lib)
    log.info("kafka.jars.resolved", version=version, jars=sum(1 for _ in lib.glob("*.jar")))
    return lib


def _run_maven(mvn: str, work: Path, out: Path, timeout: float) -> None:
    """Run ``copy-dependencies`` for the pom in ``work`` into ``out``."""
    command = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(work / "pom.xml"),
        _COPY_DEPENDENCIES,
        "-DincludeScope=runtime",
        f"-DoutputDirectory={out}",
    ]
    try:
        done = subprocess.run(
            command,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode(errors="replace")
        raise KafkaJarsUnavailable(
            f"Maven did not finish within {timeout:.0f}s resolving the Kafka jars. Last output:\n"
            + tail_text(_ANSI.sub("", output))
        ) from exc
    except OSError as exc:
        raise KafkaJarsUnavailable(f"could not run Maven ({mvn}): {exc}") from exc
    if done.returncode != 0:
        raise KafkaJarsUnavailable(
            f"Maven failed (exit {done.returncode}) resolving the Kafka jars from Maven Central "
            f"(is the network or ~/.m2/settings.xml mirror reachable?). Last output:\n"
            + tail_text(_ANSI.sub("", done.stdout))
        )
