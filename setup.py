"""The collector's C accelerators, built with this machine's compiler at install time.

Each is optional: where one cannot be built (no compiler, no headers), the install goes on and
the collector uses its pure-Python path instead (collector/receiver.py, collector/payload_readers.py).
Everything else about the distribution is in pyproject.toml.
"""

import subprocess

from setuptools import Extension, setup


def libxml2_flags() -> dict[str, list[str]]:
    """Where libxml2's headers and library are (pkg-config; Debian's libxml2-dev), or the usual place."""
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "libxml-2.0"], capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        cflags = ["-I/usr/include/libxml2"]
    return {"include_dirs": [flag[2:] for flag in cflags if flag.startswith("-I")], "libraries": ["xml2"]}


setup(
    ext_modules=[
        Extension("collector._recvmmsg", ["collector/_recvmmsg.c"], optional=True,
                  extra_compile_args=["-O2", "-Wall"]),
        Extension("collector._payloads", ["collector/_payloads.c"], optional=True,
                  extra_compile_args=["-O2", "-Wall"], **libxml2_flags()),
    ],
)
