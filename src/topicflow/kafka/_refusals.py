"""What the Kafka client only logs when a cluster refuses us, made into a clear error.

aiokafka logs a refused SASL authentication, and the TLS error of a broker
certificate that does not verify, then raises a generic "Unable to bootstrap".
:class:`AuthRefusals` catches those log records while a client starts;
:func:`refused` and :func:`untrusted` turn them into the errors a user reads.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

from topicflow.exceptions import (
    KafkaAuthenticationError,
    KafkaCertificateError,
    KafkaUnavailableError,
)

if TYPE_CHECKING:
    from topicflow.kafka._options import ConnectionOptions

__all__ = ["AuthRefusals", "refused", "untrusted"]


class AuthRefusals(logging.Handler):
    """Catches the broker's refusal of our credentials, and the TLS verification
    error of its certificate, which aiokafka only logs before it raises a generic
    "Unable to bootstrap"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reason: str | None = None
        self.certificate: ssl.SSLCertVerificationError | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # aiokafka logs the connect error as an argument: the object itself, whose
        # verify_code tells an unknown CA from a wrong host name.
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, ssl.SSLCertVerificationError):
                self.certificate = arg
                return
        text = record.getMessage()
        if "SaslAuthenticationFailed" in text or "Authentication failed" in text:
            self.reason = text.rsplit(": ", 1)[-1] if ": " in text else text


def refused(options: ConnectionOptions, reason: str) -> KafkaUnavailableError:
    security = options.security
    who = (
        f"user {getattr(security, 'username', '?')!r} with SASL {security.mechanism}"
        if (security is not None and security.mechanism)
        else "the connection"
    )
    return KafkaAuthenticationError(
        f"Kafka at {options.servers_text} refused {who}: {reason}. Check the username and "
        "password, and that the listener accepts this mechanism.",
        bootstrap_servers=options.servers_text,
    )


# OpenSSL's X509_V_ERR_* codes of SSLCertVerificationError.verify_code.
_WRONG_HOST = {62, 64}  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_UNKNOWN_CA = {2, 18, 19, 20, 21}  # no trusted issuer, self-signed, ...


def untrusted(
    options: ConnectionOptions, error: ssl.SSLCertVerificationError
) -> KafkaCertificateError:
    reason = f"certificate verify failed: {error.verify_message}".rstrip(".")
    if error.verify_code in _WRONG_HOST:
        problem = "a TLS certificate that does not name the host connected to"
        fix = (
            "Connect with a host name or IP address the certificate names (its "
            "subjectAltName), in bootstrap_servers and the brokers' advertised.listeners, "
            "or have the certificate issued for this name."
        )
    elif error.verify_code in _UNKNOWN_CA:
        problem = "a TLS certificate signed by a CA that the ssl_context does not trust"
        fix = (
            "Give KafkaBroker(security=...) an ssl_context that trusts the cluster's CA: "
            "ssl.create_default_context(cafile='<the CA file>')."
        )
    else:
        problem = "a TLS certificate that did not verify"
        fix = "Check the broker's certificate (its dates) and the CA file of the ssl_context."
    return KafkaCertificateError(
        f"Kafka at {options.servers_text} presented {problem} ({reason}). {fix}",
        bootstrap_servers=options.servers_text,
    )
