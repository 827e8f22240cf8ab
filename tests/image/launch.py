"""Start an image's process from its root filesystem the way a container runtime would, without one.

Run as root inside fresh mount and PID namespaces (``unshare --mount --pid --fork --propagation private``),
so every mount below disappears with the process and the program is PID 1 of its own PID namespace::

    python tests/image/launch.py SPEC.json

SPEC (JSON): ``rootfs`` (the image's files, e.g. from ``podman image mount``), ``newroot`` (an empty
directory to mount them on), ``uid``/``gid`` (numeric), ``workdir``, ``env`` (the complete environment),
``argv`` (entrypoint + command; ``argv[0]`` is looked up in the image's PATH), ``host_mount_ns`` (the
caller's ``/proc/self/ns/mnt``: the launcher refuses to mount anything there) and ``binds``: ``[{"src":
host dir, "dst": absolute path inside, "ro": true}]`` for mounted volumes.

Steps: bind the image's files on ``newroot`` and remount them read-only; mount a fresh /proc, a minimal /dev
(null, zero, full, random, urandom, the /proc/self/fd links), /tmp and /run as small tmpfs, and the binds
(their mount points made inside /run or /tmp, the only writable places); chroot; drop every supplementary
group, set the numeric gid and uid (so no capability is left) and no_new_privs; exec the program.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PR_SET_NO_NEW_PRIVS = 38
DEVICES = ("null", "zero", "full", "random", "urandom")


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def inside(newroot: Path, path: str) -> Path:
    """``path`` under ``newroot``; refuses symlinks on the way (they would resolve against the host's root)."""
    target = newroot
    for part in Path(path).relative_to("/").parts:
        target = target / part
        if target.is_symlink():
            raise SystemExit(f"launch: {path} goes through the symlink {target}; name the real path")
    return target


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    if os.getpid() != 1 or os.readlink("/proc/self/ns/mnt") == spec["host_mount_ns"]:
        print(
            "launch: run me in new mount and PID namespaces (unshare --mount --pid --fork)", file=sys.stderr
        )
        return 2
    rootfs, newroot = Path(spec["rootfs"]), Path(spec["newroot"])
    mount("--bind", str(rootfs), str(newroot))
    mount("-o", "remount,bind,ro", str(newroot))
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(newroot / "proc"))
    dev = newroot / "dev"
    mount("-t", "tmpfs", "-o", "nosuid,noexec,mode=755,size=64k", "tmpfs", str(dev))
    for name in DEVICES:
        (dev / name).touch()
        mount("--bind", f"/dev/{name}", str(dev / name))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        (dev / name).symlink_to(target)
    (dev / "stdout").symlink_to("/proc/self/fd/1")
    (dev / "stderr").symlink_to("/proc/self/fd/2")
    mount("-t", "tmpfs", "-o", "nosuid,nodev,mode=1777,size=64m", "tmpfs", str(newroot / "tmp"))
    mount("-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=755,size=1m", "tmpfs", str(inside(newroot, "/run")))
    for bind in spec.get("binds", []):
        target = inside(newroot, bind["dst"])
        target.mkdir(parents=True, exist_ok=True)
        mount("--bind", bind["src"], str(target))
        if bind.get("ro", True):
            mount("-o", "remount,bind,ro,nosuid,nodev,noexec", str(target))

    env: dict[str, str] = spec["env"]
    os.chroot(newroot)
    os.chdir(spec.get("workdir") or "/")
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    argv: list[str] = spec["argv"]
    program = shutil.which(argv[0], path=env.get("PATH", "/usr/bin:/bin"))
    if program is None:
        print(f"launch: {argv[0]!r} not found in the image's PATH {env.get('PATH')!r}", file=sys.stderr)
        return 127
    sys.stdout.flush()
    os.execve(program, argv, env)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
