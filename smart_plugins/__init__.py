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
