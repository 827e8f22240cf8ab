"""The image, built once per session by hack/image.sh (only when its inputs changed), and its root filesystem."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.image import IMAGE, ROOT, podman


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``podman image inspect`` of the image, built (or found up to date) by hack/image.sh first."""
    if os.geteuid() != 0:
        pytest.fail("the image tests need root: podman's store, mounts and chroot (run them as root)")
    log = tmp_path_factory.mktemp("image") / "build.log"
    with log.open("w") as out:
        proc = subprocess.run(
            ["bash", str(ROOT / "hack" / "image.sh")],
            cwd=ROOT,
            env=dict(os.environ, IMAGE=IMAGE),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=840,
            check=False,
        )
    if proc.returncode != 0:
        pytest.fail(f"hack/image.sh failed ({proc.returncode}):\n{log.read_text()[-4000:]}")
    info: dict[str, Any] = json.loads(podman("image", "inspect", IMAGE))[0]
    return info


@pytest.fixture(scope="session")
def image_root(image: dict[str, Any]) -> Iterator[Path]:
    """The image's root filesystem (``podman image mount``), unmounted at the end of the session."""
    root = Path(podman("image", "mount", image["Id"]).strip())
    try:
        yield root
    finally:
        podman("image", "unmount", image["Id"])
