"""Run the example drill end to end on this machine, unattended.

Starts the example system (two stores, a service, Prometheus, Alertmanager) on
loopback, runs ``drillhall drill run`` on plan.yaml with robot responders, and
stops the system again, whatever happens. Extra arguments go to ``drill run``
(``--db``, ``--json``). Use it through ``./run example-drill``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "system"))

import system  # noqa: E402  (the example system's own module)


def main(arguments: list[str]) -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_urlsafe(16)
    rundir = Path(tempfile.mkdtemp(prefix="drillhall-example-"))

    print(f"starting the example system in {rundir}", file=sys.stderr)
    state = system.start_system(
        rundir,
        webhook_url=f"http://127.0.0.1:{port}/alertmanager",
        webhook_token=token,
    )
    try:
        configuration = state.configuration()
        variables = [
            f"--var={key}={configuration[key]}"
            for key in ("rundir", "service_url", "system_dir")
        ]
        command = [
            sys.executable, "-m", "drillhall", "drill", "run", str(HERE / "plan.yaml"),
            "--receiver-port", str(port), *variables, *arguments,
        ]  # fmt: skip
        environment = {**os.environ, "DRILLHALL_ALERTMANAGER_TOKEN": token}
        return subprocess.run(command, env=environment, check=False).returncode
    finally:
        print("stopping the example system", file=sys.stderr)
        system.stop_system(rundir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
