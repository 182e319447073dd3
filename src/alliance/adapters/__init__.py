"""Adapters to the world outside the process that the services use through a narrow
interface: :mod:`alliance.adapters.mail` is the one SMTP path (the check-in messages of
:mod:`alliance.notify` and the therapist's attention notice)."""
