"""Serve the dashboard (``notebooks/dashboard.ipynb``) with Voila, the way it should be served.

``python -m widgets.serve [--port 8866]`` (what ``make run`` does) starts Voila with:

- a preheated kernel: the notebook has already run (TensorFlow imported, the app built) when
  the browser asks, so the page is usable in about a second; the next one preheats meanwhile;
- the ``workbench`` template: Voila's lab template without its Font Awesome links to a CDN
  (the icons come from Voila's own bundle), so nothing is fetched from the network;
- the ``_xsrf`` cookie set on every page: the page's unload beacon posts it to shut its kernel
  down, so a reload does not leave a kernel (about 1 GB) behind;
- plotly.js served as a static file from the installed plotly package, so the charts load it
  once per page and the browser caches it.

Example:
    >>> voila_arguments(8866)[:2]
    ['.../notebooks/dashboard.ipynb', '--port=8866']
"""

from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path

from voila.app import Voila
from voila.voila_identity_provider import VoilaIdentityProvider

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parent / "notebooks" / "dashboard.ipynb"
TEMPLATE = "workbench"
DEFAULT_PORT = 8866
# Preheating the next kernel (TensorFlow import, the app built) takes a core for ~10 s: start it
# once the page that took the last one has loaded, not while it loads.
REFILL_DELAY_S = 8


class XsrfCookieIdentityProvider(VoilaIdentityProvider):
    """Voila's identity provider, which also sets the ``_xsrf`` cookie on each page request:
    the page posts that cookie when it unloads, to shut its kernel down."""

    async def get_user(self, handler):
        user = super().get_user(handler)
        if inspect.isawaitable(user):
            user = await user
        if handler.request.method == "GET" and user is not None:
            handler.current_user = user  # what the cookie is made for (prepare sets it too)
            handler.xsrf_token  # noqa: B018 - reading it sets the cookie
        return user


class WorkbenchVoila(Voila):
    """Voila, also serving the installed plotly.js at ``voila/static/plotly.min.js``."""

    def setup_template_dirs(self):
        from widgets.plotly_chart import plotly_library_folder

        super().setup_template_dirs()
        self.static_paths.append(str(plotly_library_folder()))


def voila_arguments(port: int = DEFAULT_PORT, notebook: Path = NOTEBOOK) -> list[str]:
    """The Voila command line (after ``voila``) for the dashboard on ``port``."""
    return [str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
            f"--template={TEMPLATE}", "--preheat_kernel=True", "--pool_size=1",
            f"--VoilaKernelManager.fill_delay={REFILL_DELAY_S}",
            f"--Voila.identity_provider_class={__name__}.XsrfCookieIdentityProvider"]


def voila_environment(environ=None) -> dict:
    """The environment Voila needs to find the ``workbench`` template."""
    environ = dict(os.environ if environ is None else environ)
    paths = [str(HERE), *filter(None, environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environ




class DashboardServer:
    """The dashboard served in a child process, for tests and benchmarks: start it on a free
    port, wait until a kernel is preheated, count its kernels, stop it.

    Example:
        >>> with DashboardServer(workspace) as server:            # doctest: +SKIP
        ...     server.wait_preheated()
        ...     page.goto(server.url)
    """

    def __init__(self, workspace, log_path=None, port: int | None = None):
        import socket
        import tempfile

        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self.port, self.url = port, f"http://127.0.0.1:{port}/"
        self.workspace = workspace
        self.log_path = Path(log_path or tempfile.mkstemp(prefix="voila-", suffix=".log")[1])
        self.process = None

    def __enter__(self) -> "DashboardServer":
        import subprocess
        import sys

        env = {**voila_environment(), "WORKBENCH_WORKSPACE": str(self.workspace),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "widgets.serve", f"--port={self.port}"],
                cwd=HERE.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except Exception:  # noqa: BLE001 - a server that does not stop is killed
                self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_preheated(self, count: int = 1, timeout: float = 300) -> None:
        """Wait until the ``count``-th preheated kernel has built the app (a RuntimeError,
        with the server's log, if it stops or takes longer than ``timeout`` seconds)."""
        import time

        from widgets.app import READY_LINE

        deadline = time.monotonic() + timeout
        while self.log().count(READY_LINE) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not preheat a kernel:\n{self.log()}")
            time.sleep(0.25)

    def kernel_count(self) -> int:
        """How many kernels the server runs now (its ipykernel child processes)."""
        import psutil

        count = 0
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                count += "ipykernel" in " ".join(child.cmdline())
            except psutil.Error:  # it ended while being looked at
                continue
        return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m widgets.serve",
                                     description="Serve the Optimization Workbench dashboard.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    os.environ.update(voila_environment())
    print(f"Starting the dashboard: open http://127.0.0.1:{args.port}/ (Ctrl-C stops it)",
          flush=True)
    WorkbenchVoila.launch_instance(voila_arguments(args.port))


if __name__ == "__main__":
    main()
