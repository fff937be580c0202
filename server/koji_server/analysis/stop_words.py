"""scikit-learn's English stop words, without importing scikit-learn.

Importing `sklearn.feature_extraction.text` imports most of scikit-learn and
SciPy (seconds); the interviewer's reading, loaded before a server serves,
needs only this list. Its module (`sklearn/feature_extraction/_stop_words.py`,
one frozenset and no imports) is located through the import system and run
alone, so the list stays the maintained library's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _stop_words_module() -> ModuleType:
    spec = importlib.util.find_spec("sklearn")  # locates it, imports nothing
    assert spec is not None and spec.submodule_search_locations is not None
    path = Path(next(iter(spec.submodule_search_locations)), "feature_extraction", "_stop_words.py")
    loaded = importlib.util.spec_from_file_location("_koji_sklearn_stop_words", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


ENGLISH_STOP_WORDS: frozenset[str] = _stop_words_module().ENGLISH_STOP_WORDS
