"""SASL and TLS against the local Kafka's secured listeners (scripts/kafka start --secure)."""

from __future__ import annotations

import os
import ssl
import time
from pathlib import Path

import pytest

from tests.helpers import eventually
from topicflow import KafkaAuthenticationError, KafkaCertificateError
from topicflow.kafka import KafkaBroker
from topicflow.security import (
    SASLGSSAPI,
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

USER, PASSWORD = "admin", "admin-secret"  # the test user scripts/kafka creates


@pytest.fixture
def sasl_bootstrap() -> str:
    servers = os.environ.get("KAFKA_SASL_BOOTSTRAP")
    if not servers:
        pytest.skip("no SASL listener: ./scripts/test starts one (scripts/kafka start --secure)")
    return servers


NO_TLS = "no TLS listeners: ./scripts/test starts them (scripts/kafka start --secure)"


@pytest.fixture
def tls_dir() -> Path:
    """The local Kafka's CA and client certificate files (scripts/kafka tls-dir)."""
    folder = os.environ.get("KAFKA_TLS_DIR")
    if not folder:
        pytest.skip(f"{NO_TLS}; KAFKA_TLS_DIR is not set")
    return Path(folder)


@pytest.fixture
def ssl_bootstrap() -> str:
    servers = os.environ.get("KAFKA_SSL_BOOTSTRAP")
    if not servers:
        pytest.skip(f"{NO_TLS}; KAFKA_SSL_BOOTSTRAP is not set")
    return servers


@pytest.fixture
def sasl_ssl_bootstrap() -> str:
    servers = os.environ.get("KAFKA_SASL_SSL_BOOTSTRAP")
    if not servers:
        pytest.skip(f"{NO_TLS}; KAFKA_SASL_SSL_BOOTSTRAP is not set")
    return servers


def trusting(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca_file``, as a user would make it."""
    return ssl.create_default_context(cafile=str(ca_file))


async def round_trip(broker: KafkaBroker, topic: str) -> None:
    """Publish one message through ``broker`` and see its subscriber receive it."""
    got: list[str] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        got.append(body)

    async with broker:
        await broker.start()
        await broker.publish("over TLS", topic)
        await eventually(lambda: got == ["over TLS"])


@pytest.mark.kafka
async def test_ssl_without_a_client_certificate(
    ssl_bootstrap: str, tls_dir: Path, topic: str
) -> None:
    broker = KafkaBroker(ssl_bootstrap, security=BaseSecurity(trusting(tls_dir / "ca.pem")))
    await round_trip(broker, topic)


@pytest.mark.kafka
async def test_ssl_with_a_client_certificate(ssl_bootstrap: str, tls_dir: Path, topic: str) -> None:
    context = trusting(tls_dir / "ca.pem")
    context.load_cert_chain(tls_dir / "client.pem", tls_dir / "client.key")
    await round_trip(KafkaBroker(ssl_bootstrap, security=BaseSecurity(context)), topic)


@pytest.mark.kafka
async def test_sasl_ssl_with_scram(sasl_ssl_bootstrap: str, tls_dir: Path, topic: str) -> None:
    security = SASLScram512(USER, PASSWORD, ssl_context=trusting(tls_dir / "ca.pem"))
    assert security.protocol == "SASL_SSL"
    await round_trip(KafkaBroker(sasl_ssl_bootstrap, security=security), topic)


async def refusal(broker: KafkaBroker) -> tuple[KafkaAuthenticationError, float]:
    """The error ``broker.start()`` raises, and the seconds it took (the client's own
    request timeout, 40 s, is left as it is: the error must not wait for it)."""
    began = time.monotonic()
    with pytest.raises(KafkaAuthenticationError) as info:
        await broker.start()
    return info.value, time.monotonic() - began


@pytest.mark.kafka
async def test_a_wrong_ca_is_a_clear_error(ssl_bootstrap: str, tls_dir: Path) -> None:
    security = BaseSecurity(trusting(tls_dir / "wrong-ca.pem"))
    error, elapsed = await refusal(KafkaBroker(ssl_bootstrap, security=security))

    assert elapsed < 10
    assert isinstance(error, KafkaCertificateError)
    message = str(error)
    assert f"Kafka at {ssl_bootstrap}" in message
    assert "certificate verify failed" in message
    assert "a CA that the ssl_context does not trust" in message
    assert "ssl.create_default_context(cafile=" in message


@pytest.mark.kafka
async def test_a_hostname_mismatch_is_a_clear_error(ssl_bootstrap: str, tls_dir: Path) -> None:
    # The broker's certificate names IP:127.0.0.1 only.
    port = ssl_bootstrap.split(",")[0].rpartition(":")[2]
    security = BaseSecurity(trusting(tls_dir / "ca.pem"))
    error, elapsed = await refusal(KafkaBroker(f"localhost:{port}", security=security))

    assert elapsed < 10
    assert isinstance(error, KafkaCertificateError)
    message = str(error)
    assert "certificate is not valid for 'localhost'" in message
    assert "Connect with a host name or IP address the certificate names" in message


@pytest.mark.kafka
async def test_a_wrong_password_over_sasl_ssl_is_a_clear_error(
    sasl_ssl_bootstrap: str, tls_dir: Path
) -> None:
    security = SASLScram512(USER, "wrong", ssl_context=trusting(tls_dir / "ca.pem"))
    error, elapsed = await refusal(KafkaBroker(sasl_ssl_bootstrap, security=security))

    assert elapsed < 10
    assert not isinstance(error, KafkaCertificateError)  # TLS itself went through
    message = str(error)
    assert "refused user 'admin' with SASL SCRAM-SHA-512" in message
    assert "Check the username and password" in message
    assert "wrong" not in message


@pytest.mark.kafka
@pytest.mark.parametrize("kind", [SASLPlaintext, SASLScram256, SASLScram512])
async def test_sasl_mechanisms_publish_and_consume(
    sasl_bootstrap: str, topic: str, kind: type[SASLPlaintext]
) -> None:
    broker = KafkaBroker(sasl_bootstrap, security=kind(USER, PASSWORD))
    got: list[str] = []

    @broker.subscriber(topic, auto_offset_reset="earliest")
    async def handle(body: str) -> None:
        got.append(body)

    async with broker:
        await broker.start()
        await broker.publish(kind.mechanism, topic)
        await eventually(lambda: got == [kind.mechanism])


@pytest.mark.kafka
async def test_wrong_password_is_a_clear_error(sasl_bootstrap: str) -> None:
    broker = KafkaBroker(
        sasl_bootstrap, security=SASLScram512(USER, "wrong"), request_timeout_ms=5000
    )
    with pytest.raises(KafkaAuthenticationError) as info:
        await broker.start()
    message = str(info.value)
    assert "refused user 'admin' with SASL SCRAM-SHA-512" in message
    assert "Check the username and password" in message
    assert "wrong" not in message  # the password is never shown


def test_client_settings() -> None:
    assert BaseSecurity().client_settings() == {"security_protocol": "PLAINTEXT"}
    context = ssl.create_default_context()
    assert BaseSecurity(context).client_settings() == {
        "security_protocol": "SSL",
        "ssl_context": context,
    }
    assert SASLScram256("u", "p", use_ssl=True).client_settings()["security_protocol"] == (
        "SASL_SSL"
    )
    assert SASLPlaintext("u", "p").client_settings() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
    assert SASLOAuthBearer("provider").client_settings()["sasl_mechanism"] == "OAUTHBEARER"
    assert SASLGSSAPI(domain_name="x").client_settings()["sasl_kerberos_domain_name"] == "x"
    assert "secret" not in repr(SASLPlaintext("u", "secret-p"))
