"""Serve the dashboard (``python -m experiments dashboard``) with ``solara run``.

Kept apart from :mod:`experiments.dashboard` so the command line can check
arguments and dependencies without importing solara and Mesa's visualization.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from experiments.config import ConfigError

#: The module ``solara run`` serves.
APP = "experiments.dashboard"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_INSTALL = 'pip install -e ".[dashboard]"'


def check_dependencies() -> None:
    """Raise ``ConfigError`` naming the install command if a dashboard package is missing.

    Raises:
        ConfigError: If solara, ipyvuetify (below 3) or altair (imported by Mesa's
            visualization) is missing, or ipyvuetify is 3.x.
    """
    missing = [name for name in ("solara", "ipyvuetify", "altair") if not _importable(name)]
    if missing:
        raise ConfigError(f"the dashboard needs {', '.join(missing)}: {_INSTALL}")
    try:
        major = int(version("ipyvuetify").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return
    if major >= 3:
        raise ConfigError(
            f"ipyvuetify {version('ipyvuetify')} breaks Mesa 3.3's SolaraViz; "
            f"install ipyvuetify<3: {_INSTALL}"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_address(host: str, port: int) -> None:
    """Raise ``ConfigError`` unless ``port`` is valid and free on ``host``.

    Raises:
        ConfigError: For a port outside 1-65535, an unknown host, or a port in use.
    """
    if not 1 <= port <= 65535:
        raise ConfigError(f"argument --port must be in 1-65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"argument --host: cannot resolve '{host}' ({exc.strerror})") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name == "posix":  # as the server does: ignore connections closing down
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
            ) from exc


def command(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The ``solara run`` command line that serves the dashboard."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--log-level",
        "warning",
    ]


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    """Serve the dashboard until interrupted; return the server's exit status.

    Raises:
        ConfigError: For missing packages or an unusable address.
    """
    check_dependencies()
    check_address(host, port)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    shown = f"[{host}]" if ":" in host else host
    print(f"dashboard at http://{shown}:{port} (Ctrl+C to stop)", flush=True)
    process = subprocess.Popen(command(host, port), env=env)
    if threading.current_thread() is threading.main_thread():
        # Stopping this process (SIGTERM) stops the server too.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
