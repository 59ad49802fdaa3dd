"""The Flask extensions accounts are built on, created unbound (bound in ``auth.init_app``)."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
#: Failed log-ins per address (and, on the log-in view, per account); RATELIMIT_STORAGE_URI says
#: where the counts live (memory:// by default, redis://... to share them between web workers).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
