"""Administration: user accounts and API tokens (admins), OpenID claim mappings (admins) and
the lane -> role mapping of process models (admins and process owners).

One blueprint (`admin`), its routes by topic: `users`, `tokens`, `claims`, `processes`.
"""

from web.pages.admin import claims, processes, tokens, users
from web.pages.admin.lists import bp

__all__ = ["bp", "claims", "processes", "tokens", "users"]
