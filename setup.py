"""Ships the content directories (phases/, quizzes/, experiments/) inside the wheel as `lynx_content.*`.

pyproject.toml holds the metadata; this file only adds the directory mapping that a
declarative `packages.find` cannot express together with auto-discovery.
"""

from setuptools import find_packages, setup

CONTENT = ("phases", "quizzes", "experiments")

setup(
    packages=find_packages(include=["workbench", "workbench.*", "engine", "engine.*"])
    + [f"lynx_content.{name}" for name in CONTENT],
    package_dir={f"lynx_content.{name}": name for name in CONTENT},
    package_data={f"lynx_content.{name}": ["*.yaml"] for name in CONTENT} | {"workbench": ["tui/*.tcss"], "engine": ["apps/portal/templates/*.html", "apps/portal/static/*", "data/texts/*.txt"]},
)
