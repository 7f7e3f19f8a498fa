"""Linli marketplace (微心愿): wishes, claims, matching rules and escalation.

Built on the points library's public API only (``import points``). Its domain arrives with the
marketplace issue; until then it exports nothing.
"""

__all__: list[str] = []
