"""A sentence an agency admin understands for every reason code an audit row can carry.

The consent engine's codes keep their own sentences (``consent.reasons.SENTENCES``); this module
adds the router's envelope codes (``onedoor.envelope.reasons.Reason``), the router's own
agreement codes (``hub.router.policy.PolicyReason``) and the API's ``auth.*`` codes. A test
fails when any of those enums gains a member without a sentence here.
"""

from __future__ import annotations

from typing import Final

from consent.reasons import SENTENCES as ENGINE_SENTENCES
from onedoor.envelope.reasons import Reason

ROUTER_SENTENCES: Final[dict[Reason, str]] = {
    Reason.TOO_LARGE: "The message was larger than the hub accepts; the sender must send less in one message.",
    Reason.MALFORMED: "The message was not a well-formed OneDoor envelope, so the hub could not read it.",
    Reason.UNSUPPORTED_FORMAT: "The message used a newer envelope format than this hub or recipient can read.",
    Reason.TAMPERED: (
        "The message did not carry the sending agency's proof of origin: it was changed after it was "
        "sealed, or it was not sealed with the agency's registered key."
    ),
    Reason.EXPIRED: "The message expired before it could be delivered; the sender must send it again.",
    Reason.NOT_YET_VALID: "The message was dated in the future: the sending system's clock is probably wrong.",
    Reason.TTL_TOO_LONG: "The message asked to stay valid for longer than the hub allows.",
    Reason.REPLAYED: "A message with this id had already been delivered: this was a second copy, and was not sent.",
    Reason.KEYS_MISMATCH: "The sending system sealed the message for the wrong set of recipients' keys.",
    Reason.NOT_ADDRESSED: "The recipient received a message that was not addressed to it, and refused it.",
    Reason.DECRYPT_FAILED: "The recipient could not decrypt the message: the sender sealed it wrongly.",
    Reason.SIGNATURE_INVALID: "The sending agency's signature did not verify, so the recipient refused the message.",
    Reason.SENDER_UNKNOWN: "The message came from a system that is not a registered agency.",
    Reason.SENDER_MISMATCH: "The message claimed to come from a different agency than the one that sent it.",
    Reason.SENDER_SUSPENDED: "The sending agency is suspended from the hub, so nothing it sends is delivered.",
    Reason.SENDER_KEY_UNKNOWN: (
        "The message was sealed or signed with a key the hub does not hold for the sending agency "
        "(an old, revoked or unregistered key)."
    ),
    Reason.RECIPIENT_UNKNOWN: "A recipient is not a registered, active agency (or was named twice).",
    Reason.CONTRACT_UNKNOWN: "The message is of a kind (contract) the hub or the recipient does not know.",
    Reason.CONTRACT_VERSION_UNKNOWN: "The message uses a version of its contract that is not registered.",
    Reason.BODY_MALFORMED: "The recipient could not read the message's content with the contract it names.",
    Reason.RECIPIENT_KEY_UNKNOWN: (
        "The message was encrypted to a key the recipient no longer holds (usually just after a key rotation)."
    ),
    Reason.NOT_ENTITLED: (
        "The recipient checked the agreement again on receipt and found it entitled to none of the message, "
        "so it refused it."
    ),
}

AGREEMENT_SENTENCES: Final[dict[str, str]] = {
    "agreement.missing": "The message did not name the sharing agreement it was sent under.",
    "agreement.unknown": "The message named a sharing agreement the hub does not hold.",
    "agreement.not_a_party": "The agreement the message named does not cover the sender or a recipient.",
    "purpose.invalid": "The message's stated purpose was not written in the form the hub accepts.",
}
"""The router's own refusals before the engine is asked (``hub.router.policy.PolicyReason``)."""

STATUS_SENTENCES: Final[dict[str, str]] = {
    "status.wrong_purpose": "A status check or answer must be sent for victim identification, and this one was not.",
    "status.rate_limited": "The agency sent status checks faster than the hub allows, so this one was not passed on.",
    "status.reply_unsolicited": "An answer to a status check the hub has no record of asking that agency.",
    "status.reply_late": "An answer to a status check that came after its deadline, so it was not passed on.",
    "status.reply_duplicate": "A second answer from the same agency to one status check.",
    "status.enumeration_suspected": (
        "The agency sent an unusually large number of status checks in a short time; the hub operator was alerted."
    ),
}
"""The status check's refusals and alerts (``hub.router.status.StatusReason``)."""

AUTH_SENTENCES: Final[dict[str, str]] = {
    "auth.missing_token": "The request carried no access token.",
    "auth.malformed_token": "The request's access token was not a well-formed token.",
    "auth.algorithm_not_allowed": "The request's access token was signed in a way the hub does not accept.",
    "auth.bad_signature": "The request's access token was not issued by an issuer this hub trusts.",
    "auth.missing_claim": "The request's access token lacked a required part (such as its roles or expiry).",
    "auth.wrong_issuer": "The request's access token came from an issuer this hub does not trust.",
    "auth.wrong_audience": "The request's access token was issued for another service.",
    "auth.expired": "The request's access token had expired; get a new one.",
    "auth.not_yet_valid": "The request's access token was not valid yet (a clock is probably wrong).",
    "auth.unknown_role": "The request's access token named a role the hub does not know.",
    "auth.forbidden": "The caller's roles do not permit this request (or it concerns another agency).",
}
"""Every code ``hub.auth.tokens.verify`` and ``hub.auth.policy.authorize`` refuse with."""

SENTENCES: Final[dict[str, str]] = {
    **{str(code): text for code, text in ENGINE_SENTENCES.items()},
    **{str(code): text for code, text in ROUTER_SENTENCES.items()},
    **AGREEMENT_SENTENCES,
    **STATUS_SENTENCES,
    **AUTH_SENTENCES,
}
"""Every known code, by its text form."""


def sentence(code: str) -> str:
    """The sentence for ``code``; a generic one naming the code when it is not known."""
    known = SENTENCES.get(code)
    if known is not None:
        return known
    return f"The hub recorded the reason {code}, which this version of OneDoor does not describe."
