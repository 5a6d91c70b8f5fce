"""Load and validate phases/, quizzes/ and experiments/ into typed objects."""

from workbench.content.loader import Catalog, load_catalog
from workbench.content.schema import ContentError

__all__ = ["Catalog", "ContentError", "load_catalog"]
