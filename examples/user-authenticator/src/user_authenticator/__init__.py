"""UserAuthenticator: a small authentication microservice (register, login, verify).

It is the example service that scangate's demo builds, scans and gates; the code is a real,
working service so that the image the gate looks at is a realistic one.
"""

from user_authenticator.app import create_app
from user_authenticator.config import Config, ConfigError

__all__ = ["Config", "ConfigError", "create_app"]
__version__ = "1.0.0"
