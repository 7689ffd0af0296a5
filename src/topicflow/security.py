"""How a broker authenticates and encrypts its connection: ``KafkaBroker(security=...)``.

==========================  ==================  ====================================
class                       Kafka protocol      SASL mechanism
==========================  ==================  ====================================
``BaseSecurity``            SSL (or PLAINTEXT)  none
``SASLPlaintext``           SASL_PLAINTEXT/SSL  PLAIN
``SASLScram256``            SASL_PLAINTEXT/SSL  SCRAM-SHA-256
``SASLScram512``            SASL_PLAINTEXT/SSL  SCRAM-SHA-512
``SASLOAuthBearer``         SASL_PLAINTEXT/SSL  OAUTHBEARER (a token provider)
``SASLGSSAPI``              SASL_PLAINTEXT/SSL  GSSAPI (Kerberos)
==========================  ==================  ====================================

TLS is on when an ``ssl_context`` is given (or ``use_ssl=True``, which then uses
the system's default context). Plain passwords over a connection without TLS
are sent in clear text: fine on loopback, not across a network.
"""

from __future__ import annotations

import ssl
from typing import Any

__all__ = [
    "BaseSecurity",
    "SASLGSSAPI",
    "SASLOAuthBearer",
    "SASLPlaintext",
    "SASLScram256",
    "SASLScram512",
]


class BaseSecurity:
    """TLS without SASL (``use_ssl=False`` and no context: plain TCP).

    Args:
        ssl_context: the TLS settings (CA, client certificate); implies TLS.
        use_ssl: TLS with the default context when no ``ssl_context`` is given.
    """

    #: The SASL mechanism, for subclasses.
    mechanism: str | None = None

    def __init__(self, ssl_context: ssl.SSLContext | None = None, use_ssl: bool | None = None):
        self.ssl_context = ssl_context
        self.use_ssl = use_ssl if use_ssl is not None else ssl_context is not None

    @property
    def protocol(self) -> str:
        """Kafka's ``security.protocol`` for these settings."""
        if self.mechanism is None:
            return "SSL" if self.use_ssl else "PLAINTEXT"
        return "SASL_SSL" if self.use_ssl else "SASL_PLAINTEXT"

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for the Kafka client."""
        settings: dict[str, Any] = {"security_protocol": self.protocol}
        if self.use_ssl:
            settings["ssl_context"] = self.ssl_context or ssl.create_default_context()
        if self.mechanism is not None:
            settings["sasl_mechanism"] = self.mechanism
        return settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}(protocol={self.protocol!r})"


class SASLPlaintext(BaseSecurity):
    """SASL PLAIN: a username and password."""

    mechanism = "PLAIN"

    def __init__(
        self,
        username: str,
        password: str,
        ssl_context: ssl.SSLContext | None = None,
        use_ssl: bool | None = None,
    ) -> None:
        super().__init__(ssl_context, use_ssl)
        self.username = username
        self.password = password

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for the Kafka client."""
        return {
            **super().client_settings(),
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def __repr__(self) -> str:  # never show the password
        return f"{type(self).__name__}(username={self.username!r}, protocol={self.protocol!r})"


class SASLScram256(SASLPlaintext):
    """SASL SCRAM-SHA-256: a username and password, never sent in clear."""

    mechanism = "SCRAM-SHA-256"


class SASLScram512(SASLPlaintext):
    """SASL SCRAM-SHA-512: a username and password, never sent in clear."""

    mechanism = "SCRAM-SHA-512"


class SASLOAuthBearer(BaseSecurity):
    """SASL OAUTHBEARER with a token provider (an object with ``async token()``)."""

    mechanism = "OAUTHBEARER"

    def __init__(
        self,
        token_provider: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        use_ssl: bool | None = None,
    ) -> None:
        super().__init__(ssl_context, use_ssl)
        self.token_provider = token_provider

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for the Kafka client."""
        return {**super().client_settings(), "sasl_oauth_token_provider": self.token_provider}


class SASLGSSAPI(BaseSecurity):
    """SASL GSSAPI (Kerberos); needs the client's Kerberos libraries."""

    mechanism = "GSSAPI"

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        use_ssl: bool | None = None,
        service_name: str = "kafka",
        domain_name: str | None = None,
    ) -> None:
        super().__init__(ssl_context, use_ssl)
        self.service_name = service_name
        self.domain_name = domain_name

    def client_settings(self) -> dict[str, Any]:
        """Keyword arguments for the Kafka client."""
        return {
            **super().client_settings(),
            "sasl_kerberos_service_name": self.service_name,
            "sasl_kerberos_domain_name": self.domain_name,
        }
