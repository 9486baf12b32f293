"""Reject names that would generate a broken plugin, before any file is written."""

import re
import sys

PLUGIN_NAME = "{{ cookiecutter.plugin_name }}"
MODULE_NAME = "{{ cookiecutter.module_name }}"
SECTION = "{{ cookiecutter.__section }}"

problems = []
if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", PLUGIN_NAME):
    problems.append(
        f"plugin_name {PLUGIN_NAME!r}: use lowercase letters, digits and single hyphens, "
        "starting with a letter (e.g. my-thing)"
    )
if not MODULE_NAME.isidentifier():
    problems.append(f"module_name {MODULE_NAME!r} is not a valid Python identifier")
if len(SECTION) > 40:
    problems.append(f"plugin_name {PLUGIN_NAME!r} is too long for a config section (40 max)")

if problems:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    sys.exit(1)
