"""smart-plugins: hybrid single + multi-vector (SMART) retrieval from the embedder you already run.

The core is a row of small folders, read in this order:
``encoder`` (one pass -> pooled + token vectors), ``scoring`` (pooled, MaxSim, hybrid),
``index`` (persistent token store, two-stage search), ``training`` (token adapter),
``evaluation`` (BEIR-format quality reports); framework adapters live in
``smart_plugins.integrations``.

>>> from smart_plugins import ScoreWeights
>>> ScoreWeights(pool=0.0, late=1.0).uses_pooled
False
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smart_plugins.lazy import lazy_exports

# Names are imported on first use (PEP 562), so ``import smart_plugins`` (and the CLI's --help) stays
# light; ``from smart_plugins import SmartEncoder`` works as before.
_LAZY = {
    "EncodedTexts": "smart_plugins.encoder",
    "SmartEncoder": "smart_plugins.encoder",
    "TokenPolicy": "smart_plugins.encoder",
    "resolve_model_name": "smart_plugins.models",
    "ScoreWeights": "smart_plugins.scoring",
    "SmartScorer": "smart_plugins.scoring",
    "SmartScores": "smart_plugins.scoring",
    "late_scores": "smart_plugins.scoring",
    "pooled_scores": "smart_plugins.scoring",
    "smart_scores": "smart_plugins.scoring",
}

if TYPE_CHECKING:
    from smart_plugins.encoder import EncodedTexts, SmartEncoder, TokenPolicy
    from smart_plugins.models import resolve_model_name
    from smart_plugins.scoring import (
        ScoreWeights,
        SmartScorer,
        SmartScores,
        late_scores,
        pooled_scores,
        smart_scores,
    )


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__version__ = "0.1.0"

__all__ = [
    "EncodedTexts",
    "ScoreWeights",
    "SmartEncoder",
    "SmartScorer",
    "SmartScores",
    "TokenPolicy",
    "__version__",
    "late_scores",
    "pooled_scores",
    "resolve_model_name",
    "smart_scores",
]
