"""The collector's C accelerators, built with this machine's compiler at install time.

Each is optional: where one cannot be built (no compiler, no headers), the install goes on and
the collector uses its pure-Python path instead (collector/receiver.py, collector/fast_decoding.py).
Everything else about the distribution is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("collector._recvmmsg", ["collector/_recvmmsg.c"], optional=True,
                  extra_compile_args=["-O2", "-Wall"]),
    ],
)
