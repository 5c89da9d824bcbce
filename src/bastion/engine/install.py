"""`bastion engine install`: resolve OpenSearch from Maven Central and compile the launcher.

The result is a versioned folder under the engine cache (`~/.cache/bastion/engine/<version>/`)
holding `lib/*.jar`, `classes/BastionEngine.class`, `log4j2.properties` and `install.json`,
written last, whose presence makes a later install a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bastion.home import engine_cache_root

LAUNCHER_CLASS = "BastionEngine"
# The jar count of the default version; only sizes the progress bar.
EXPECTED_JARS = 83

ProgressCallback = Callable[[int, int, str], None]
"""(done, total, detail) — called as Maven downloads and copies artifacts."""


class EngineError(Exception):
    """The engine cannot be installed or run; the message says what to do."""


@dataclass(frozen=True, slots=True)
class EngineInstall:
    version: str
    root: Path
    java: Path

    @property
    def classpath(self) -> str:
        return f"{self.root / 'classes'}{os.pathsep}{self.root / 'lib' / '*'}"

    @property
    def log_config(self) -> Path:
        return self.root / "log4j2.properties"


def _resource(name: str) -> bytes:
    return (resources.files("bastion.engine") / name).read_bytes()


def _fingerprint() -> str:
    """Changes when the pom or the launcher changes, so an upgrade re-installs."""
    digest = hashlib.sha256()
    for name in ("pom.xml", f"{LAUNCHER_CLASS}.java", "log4j2.properties"):
        digest.update(_resource(name))
    return digest.hexdigest()


def find_java_tool(tool: str, java_home: str = "") -> Path:
    """`java` or `javac` from the configured JDK, `$JAVA_HOME`, then PATH."""
    home = java_home or os.environ.get("JAVA_HOME", "")
    if home:
        candidate = Path(home) / "bin" / tool
        if candidate.is_file():
            return candidate
        raise EngineError(f"{candidate} not found: JAVA_HOME [{home}] is not a JDK 17 or later")
    found = shutil.which(tool)
    if not found:
        raise EngineError(
            f"`{tool}` not found: the engine needs a JDK 17 or later "
            "(Debian: `apt-get install openjdk-17-jdk-headless`, or set JAVA_HOME)"
        )
    return Path(found)


def _find_maven() -> Path:
    found = shutil.which("mvn")
    if not found:
        raise EngineError(
            "`mvn` not found: installing the engine needs Maven to fetch OpenSearch from Maven "
            "Central (Debian: `apt-get install maven`)"
        )
    return Path(found)


def installed(version: str, java_home: str = "") -> EngineInstall | None:
    """The cached install of `version` if it is complete and current."""
    root = engine_cache_root() / version
    try:
        marker = json.loads((root / "install.json").read_text())
    except (OSError, ValueError):
        return None
    if marker.get("fingerprint") != _fingerprint():
        return None
    return EngineInstall(version, root, find_java_tool("java", java_home))


_COPYING = re.compile(r"Copying (\S+\.jar)")
_DOWNLOADING = re.compile(r"Download(?:ing|ed) from \S+: \S+/([^/\s]+)")


def _run_maven(
    mvn: Path, pom: Path, version: str, lib: Path, *, progress: ProgressCallback, java_home: str
) -> None:
    env = dict(os.environ)
    if java_home:
        env["JAVA_HOME"] = java_home
    command = [
        str(mvn),
        "-B",
        "-f",
        str(pom),
        f"-Dopensearch.version={version}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
    ]
    tail: list[str] = []
    copied = 0
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as maven:
        assert maven.stdout is not None
        for line in maven.stdout:
            tail = [*tail[-39:], line.rstrip()]
            if match := _COPYING.search(line):
                copied += 1
                progress(copied, max(EXPECTED_JARS, copied), match.group(1))
            elif match := _DOWNLOADING.search(line):
                progress(copied, EXPECTED_JARS, f"downloading {match.group(1)}")
    if maven.returncode != 0:
        raise EngineError(
            f"Maven could not resolve OpenSearch {version} (exit {maven.returncode}); "
            "check that Maven Central is reachable. Maven said:\n" + "\n".join(tail)
        )


def install(version: str, progress: ProgressCallback, java_home: str = "") -> EngineInstall:
    """Install `version` into the cache unless it is already there; safe to run twice at once."""
    if done := installed(version, java_home):
        return done
    javac = find_java_tool("javac", java_home)
    java = find_java_tool("java", java_home)
    mvn = _find_maven()
    target = engine_cache_root() / version
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        for name in ("pom.xml", f"{LAUNCHER_CLASS}.java", "log4j2.properties"):
            (staging / name).write_bytes(_resource(name))
        _run_maven(
            mvn,
            staging / "pom.xml",
            version,
            staging / "lib",
            progress=progress,
            java_home=java_home,
        )
        progress(EXPECTED_JARS, EXPECTED_JARS, "compiling the launcher")
        compiled = subprocess.run(
            [
                str(javac),
                "-cp",
                str(staging / "lib" / "*"),
                "-d",
                str(staging / "classes"),
                str(staging / f"{LAUNCHER_CLASS}.java"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if compiled.returncode != 0:
            raise EngineError(f"compiling the engine launcher failed:\n{compiled.stderr}")
        marker = {"version": version, "fingerprint": _fingerprint()}
        (staging / "install.json").write_text(json.dumps(marker))
        if target.exists():
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            # Another install of the same version finished first: use it.
            if not installed(version, java_home):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return EngineInstall(version, target, java)
