"""One router per resource; every route depends on :class:`alliance.web.deps.Authorize`."""
