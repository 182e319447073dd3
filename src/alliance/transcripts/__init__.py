"""Transcripts in: parse WebVTT, SRT, plain text, JSON and CSV sessions into turns with roles.

The public interface is :func:`parse_transcript` (bytes, text or a file path in,
:class:`Transcript` out) and :class:`TranscriptError` (one line naming the file and line for
any unreadable input).
"""

from alliance.transcripts.model import (
    FORMATS,
    ROLES,
    SPEAKER_MODES,
    Format,
    Role,
    RoleAssignment,
    Segment,
    Speaker,
    SpeakerMode,
    Timing,
    Transcript,
    TranscriptError,
    Utterance,
)
from alliance.transcripts.parse import decode, detect_format, merge_turns, parse_transcript
from alliance.transcripts.roles import assign_roles, role_from_name

__all__ = [
    "FORMATS",
    "ROLES",
    "SPEAKER_MODES",
    "Format",
    "Role",
    "RoleAssignment",
    "Segment",
    "Speaker",
    "SpeakerMode",
    "Timing",
    "Transcript",
    "TranscriptError",
    "Utterance",
    "assign_roles",
    "decode",
    "detect_format",
    "merge_turns",
    "parse_transcript",
    "role_from_name",
]
