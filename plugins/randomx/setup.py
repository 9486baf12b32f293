"""Builds the cffi extension from native/randomx (shared with the rest of the repository)."""

from pathlib import Path

from setuptools import setup

build_script = Path(__file__).resolve().parent.parent.parent / "native" / "randomx" / "build.py"
setup(cffi_modules=[f"{build_script}:ffibuilder"])
