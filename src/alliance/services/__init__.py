"""Use cases: one function per use case, one transaction each.

Every function takes a :class:`~alliance.services.context.ServiceContext` first and, when a
person acts, ``actor=`` (:class:`~alliance.services.authz.Actor`); it validates, checks the
actor (:mod:`.authz`), acts, audits and commits — or changes nothing and raises a
:class:`~alliance.services.errors.ServiceError`. Modules: :mod:`.auth`, :mod:`.admin`,
:mod:`.clients`, :mod:`.sessions`, :mod:`.checkins`, :mod:`.goals`, :mod:`.alerts`,
:mod:`.timelines`, :mod:`.exports`, :mod:`.ratelimit`; :mod:`.monitor` bridges stored data and
the pure monitoring rules. Results are frozen views (:mod:`.views`), never ORM objects.
"""
