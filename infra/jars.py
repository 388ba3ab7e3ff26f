"""Resolve the broker's and HDFS's jars from Maven Central, once, into a shared cache.

Each pom under ``infra/maven/`` lists one service's jars and how to lay them out. A pom's cache
folder is named after the pom's hash, so bumping a version re-resolves; everything else is reused.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from infra.errors import StackError

MAVEN_DIR = Path(__file__).resolve().parent / "maven"
COMPLETE = ".complete"


def classpath(cache: Path, service: str) -> str:
    """The JVM classpath of ``service`` ("kafka" or "hadoop"), fetching its jars if missing.

    The folder itself is on the classpath too: Hadoop finds its web apps there as resources.
    """
    folder = _resolve(cache, service)
    return f"{folder}:{folder}/*"


def _resolve(cache: Path, service: str) -> Path:
    pom = MAVEN_DIR / service / "pom.xml"
    folder = cache / f"{service}-{hashlib.sha256(pom.read_bytes()).hexdigest()[:12]}"
    if (folder / COMPLETE).exists():
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is needed once to fetch the stack's jars: install it")
    print(
        f"fetching {service} jars into {folder} (first run only) ...", file=sys.stderr, flush=True
    )
    shutil.rmtree(folder, ignore_errors=True)
    cmd = [mvn, "-B", "-q", "-f", str(pom), "generate-resources", f"-Djars.dir={folder}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise StackError(f"fetching {service} jars failed ({' '.join(cmd)}):\n{tail}")
    (folder / COMPLETE).touch()
    return folder
