"""The app image without Docker: what the Dockerfile's app stage copies, installed with
`pip install .` into a fresh venv and run from another directory, serves the player, the console
and every browser library.

No container registry or daemon is reachable in CI, so this builds no image. It lays out in a
temporary directory exactly the paths the app stage COPYs (parsed from the Dockerfile, so the test
breaks when they drift; the build context honours .dockerignore), takes a `COPY --from=<stage>`
from what that stage builds in a checkout (`make vendor`), and runs the installed package.

The venv is fresh, without --system-site-packages, and the full dependency set is installed: a
runtime import that only the dev extras provide fails here as it would in the image. Only pip
itself comes from the project's .venv (`pip --python`); pip's cache spares the downloads, and
nothing is compiled ahead (the first process compiles what the app imports). About a minute.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from server.app import VENDOR
from tests.processes import ROOT, Server, free_port

TARGET = "app"  # docker-compose.yml builds the app nodes from this stage


@dataclass
class Stage:
    base: str
    workdir: PurePosixPath = field(default_factory=lambda: PurePosixPath("/"))
    # (from stage or None for the build context, sources, destination, workdir at the time)
    copies: list[tuple[str | None, list[str], str, PurePosixPath]] = field(default_factory=list)
    # where a RUN does `pip install .`
    installs_in: list[PurePosixPath] = field(default_factory=list)


def _instructions(text: str) -> Iterator[tuple[str, list[str]]]:
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        if logical.strip():
            words = shlex.split(logical, comments=False)
            yield words[0].upper(), words[1:]
        logical = ""


def parse_dockerfile(path: Path) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for op, args in _instructions(path.read_text()):
        if op == "FROM":
            base = args[0]
            stage = Stage(base)
            if base in stages:  # FROM an earlier stage inherits its working directory
                stage.workdir = stages[base].workdir
            name = args[2] if len(args) > 2 and args[1].upper() == "AS" else base
            stages[name] = stage
        elif op == "WORKDIR":
            assert stage is not None
            stage.workdir = stage.workdir / args[0]
        elif op == "RUN" and "pip install" in " ".join(args):
            assert stage is not None
            if "." in args:
                stage.installs_in.append(stage.workdir)
        elif op in {"COPY", "ADD"}:
            assert stage is not None
            assert op == "COPY", "ADD is not laid out by this test"
            flags = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            source = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            stage.copies.append((source, paths[:-1], paths[-1], stage.workdir))
    return stages


def _dockerignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    return any(
        fnmatch.fnmatch("/".join(parts[: i + 1]), p) for p in patterns for i in range(len(parts))
    )


def _copy(src: Path, dest: Path, rel: str, patterns: list[str]) -> None:
    if _dockerignored(rel, patterns):
        return
    if src.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        for child in src.iterdir():
            _copy(child, dest / child.name, f"{rel}/{child.name}", patterns)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def lay_out(stages: dict[str, Stage], target: str, into: Path) -> None:
    """Copy what `target` (and the stages it builds on) COPYs into `into`, which stands for the
    directory its `pip install .` runs in."""
    ignore_file = ROOT / ".dockerignore"
    patterns = [
        line.strip().strip("/")
        for line in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not laid out"
    chain = [stages[target]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    installs = [d for stage in chain for d in stage.installs_in]
    assert len(installs) == 1, f"one `pip install .` expected in {target}, found {installs}"
    workdir = installs[0]
    # Run from there, `python -m server` would import the copied sources, not the package.
    assert chain[0].workdir != workdir, f"{target} runs in its build directory {workdir}"
    for stage in reversed(chain):
        for source, paths, dest, at in stage.copies:
            target_dir = PurePosixPath(at) / dest
            assert target_dir.is_relative_to(workdir), f"{dest} lands outside {workdir}"
            target_path = into / target_dir.relative_to(workdir)
            for src in paths:
                if source is None:
                    rel, ignore = str(PurePosixPath(src)).strip("/"), patterns
                else:
                    # A build stage copies the context into its WORKDIR and builds there, as a
                    # checkout does: its outputs are the same paths in this checkout.
                    built = PurePosixPath(src)
                    assert built.is_relative_to(stages[source].workdir), src
                    rel, ignore = str(built.relative_to(stages[source].workdir)), []
                local = ROOT / rel
                assert local.exists(), f"COPY {src}: {rel} is not in the checkout (make install?)"
                into_dir = dest.endswith("/") and not local.is_dir()
                _copy(local, target_path / local.name if into_dir else target_path, rel, ignore)


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """A fresh venv with the laid-out app stage installed by `pip install .`; its python."""
    build = tmp_path / "build"
    build.mkdir()
    lay_out(parse_dockerfile(ROOT / "Dockerfile"), TARGET, build)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    result = subprocess.run(
        [*pip, "install", "--quiet", "--no-compile", "."],
        cwd=build,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return python


def test_the_installed_app_stage_serves_the_player_console_and_libraries(
    installed: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    # No PYTHONPATH into the checkout; bytecode written (pip compiled none), so the first
    # process compiles what the app imports and the others reuse it.
    dropped = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_ORIGINS"}
    dropped |= {"PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env |= {"DATA_DIR": str(data), "PORT": str(port), "HOST": "127.0.0.1", "LOG_FORMAT": "json"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # From the data directory, as the image does: no source tree in the working directory.
        return subprocess.run(
            [installed, *args], cwd=data, env=env, capture_output=True, text=True, timeout=120
        )

    where = run("-c", "import server.app as a, sys; print(a.__file__, a.STATIC_DIR, sys.path)")
    assert where.returncode == 0, where.stderr
    module, static, *_ = where.stdout.split()
    venv = str(installed.parent.parent)
    assert module.startswith(venv) and static.startswith(venv), where.stdout
    assert str(ROOT) not in where.stdout, "the checkout leaks into the installed package"
    migrated = run("-m", "server", "migrate")
    assert migrated.returncode == 0, migrated.stderr

    log = tmp_path / "run.log"
    server = Server(env, log, [str(installed), "-m", "server", "run"], cwd=data)
    try:
        server.wait_ready()

        pages = ["/watch/1", "/console/", "/static/player/main.js", "/static/console/main.js"]
        for path in [*pages, *(f"/static/vendor/{name}" for name in VENDOR)]:
            status, kind, body = _get(port, path)
            assert (status, bool(body)) == (200, True), (path, status, body[:200])
            expected = "text/html" if not path.endswith("js") else "text/javascript"
            assert kind in {expected, "application/javascript"}, (path, kind)
        for name in VENDOR:  # the files `make vendor` built, as the vendor stage builds them
            assert (
                _get(port, f"/static/vendor/{name}")[2]
                == (ROOT / "static/vendor" / name).read_bytes()
            )
        assert "browser libraries missing" not in log.read_text()
    finally:
        server.stop()
