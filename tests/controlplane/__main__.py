"""Command line: start a local control plane, print its admin kubeconfig path, and wait until Ctrl-C/SIGTERM.

python -m tests.controlplane [--build] [--kubeconfig-out PATH]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from . import build
from .harness import ControlPlane, ControlPlaneError


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.controlplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--build", action="store_true", help="build the binaries first when they are missing")
    parser.add_argument("--kubeconfig-out", type=Path, help="also copy the admin kubeconfig to this path")
    args = parser.parse_args()
    if args.build:
        build.ensure_built()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with ControlPlane() as cluster:
            kubeconfig = cluster.admin_kubeconfig
            if args.kubeconfig_out:
                shutil.copy(kubeconfig, args.kubeconfig_out)
                kubeconfig = args.kubeconfig_out
            print(f"control plane ready at {cluster.server}", file=sys.stderr)
            print(kubeconfig, flush=True)
            stop.wait()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
