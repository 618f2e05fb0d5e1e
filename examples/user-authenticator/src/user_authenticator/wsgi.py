"""gunicorn entry point: `gunicorn user_authenticator.wsgi:app`. Reads config from the env."""

from user_authenticator.app import create_app

app = create_app()
