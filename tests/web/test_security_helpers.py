"""CSRF tokens and the signed pending-login note."""

from __future__ import annotations

from alliance.web.security import (
    csrf_token,
    csrf_valid,
    read_pending_login,
    session_binding,
    sign_pending_login,
)

KEY = "k" * 40


def test_a_csrf_token_is_bound_to_the_seed_and_the_session() -> None:
    token = csrf_token(KEY, "seed-1", session_binding("cookie-a"))
    assert csrf_valid(KEY, "seed-1", session_binding("cookie-a"), token)
    assert not csrf_valid(KEY, "seed-2", session_binding("cookie-a"), token)
    assert not csrf_valid(KEY, "seed-1", session_binding("cookie-b"), token)
    assert not csrf_valid("other" * 10, "seed-1", session_binding("cookie-a"), token)
    assert not csrf_valid(KEY, None, "", token)
    assert not csrf_valid(KEY, "seed-1", session_binding("cookie-a"), None)


def test_a_pending_login_note_is_signed_and_expires() -> None:
    note = sign_pending_login(KEY, 42, "totp", expires_at=1_000)
    assert read_pending_login(KEY, note, now=999) == (42, "totp")
    assert read_pending_login(KEY, note, now=1_001) is None
    assert read_pending_login("z" * 40, note, now=999) is None
    forged = note.replace("42.", "43.", 1)
    assert read_pending_login(KEY, forged, now=999) is None
    assert read_pending_login(KEY, "garbage", now=0) is None


def test_two_pending_login_notes_made_in_the_same_second_differ() -> None:
    # Wrong codes are counted per note: two sign-ins must never share one count.
    first = sign_pending_login(KEY, 42, "totp", expires_at=1_000)
    second = sign_pending_login(KEY, 42, "totp", expires_at=1_000)
    assert first != second
    assert read_pending_login(KEY, first, now=999) == read_pending_login(KEY, second, now=999)


def test_access_log_lines_do_not_carry_link_tokens() -> None:
    import logging

    from alliance.web.security import RedactLinkTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/c/SECRETTOKEN123?x=1", "1.1", 200),
        None,
    )
    assert RedactLinkTokens().filter(record)
    assert "SECRETTOKEN123" not in record.getMessage()
    assert "/c/…?x=1" in record.getMessage()
    other = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/caseload", "1.1", 200),
        None,
    )
    RedactLinkTokens().filter(other)
    assert "/caseload" in other.getMessage()
