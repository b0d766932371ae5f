"""Package discovery for the two source folders (everything else is in pyproject.toml).

``smart_plugins/`` holds the core; the top-level ``integrations/`` folder is installed as
the subpackage ``smart_plugins.integrations`` (mapped by ``package-dir`` in pyproject.toml).
"""

from setuptools import find_packages, setup

core_packages = find_packages(include=["smart_plugins", "smart_plugins.*"])
integration_packages = [
    "smart_plugins.integrations" + name.removeprefix("integrations")
    for name in find_packages(include=["integrations", "integrations.*"])
]
setup(packages=core_packages + integration_packages)
