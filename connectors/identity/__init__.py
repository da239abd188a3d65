"""Privacy-preserving identity tokens: derive keyed tokens from identifiers, match tokens, measure quality."""

from connectors.identity.identifiers import Identifiers
from connectors.identity.keys import MatchingKey
from connectors.identity.match import MATCH_THRESHOLD, Match, match
from connectors.identity.tokens import IdentityTokens, Kind, derive_tokens

__all__ = ["MATCH_THRESHOLD", "Identifiers", "IdentityTokens", "Kind", "Match", "MatchingKey", "derive_tokens", "match"]
