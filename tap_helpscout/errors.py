"""The tap's exceptions.

Every error a user can meet is a TapError: `main` prints its message as one line on stderr and
exits 1, without a traceback. Messages say what is wrong and what to do, and never hold a secret.

API errors come in two weights. Most concern one endpoint, so they fail one stream and the
others go on (`ApiError`). Those whose `fatal` is true concern the whole account (credentials
refused, a rate-limit wait longer than allowed, the API out of reach) and stop the run.
"""


class TapError(Exception):
    """An error to report to the user as one line, then exit `exit_code`."""

    exit_code = 1


class ConfigError(TapError):
    """The config file is missing, unreadable, or has a bad value."""


class InputError(TapError):
    """The catalog or state file cannot be used."""


class NothingSelected(InputError):
    """The catalog selects no stream: a run would do nothing, and a scheduler would report
    success for ever (a deliberate departure from taps that exit 0)."""

    exit_code = 3


class ApiError(TapError):
    """The Help Scout API answered with an error we do not retry (or retried in vain)."""

    fatal = False

    def __init__(self, message, status=None, endpoint=None):
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class AuthError(ApiError):
    """The credentials were refused: the user must re-authorize or fix the config."""

    fatal = True


class RateLimitWaitTooLong(ApiError):
    """The server asked for a wait longer than the configured maximum."""

    fatal = True


class ApiUnreachable(ApiError):
    """The API cannot be reached at all (DNS, refused connection, TLS): no stream can sync."""

    fatal = True


class PermissionDenied(ApiError):
    """403: the token is valid but the account may not use this endpoint (e.g. reports on the
    Standard plan). The sync engine catches it per stream."""


class MalformedAnswer(ApiError):
    """A 2xx answer whose body cannot be used (not JSON, too large, inconsistent paging)."""
