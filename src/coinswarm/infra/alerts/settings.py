"""What the alerts are told: which channels reach a person, and which rules raise an alert.

Every field is a `COINSWARM_ALERT_<NAME>` variable. A channel is on when its settings are
given: email with `EMAIL_HOST`, `EMAIL_FROM` and `EMAIL_TO`; SMS with `SMS_ACCOUNT_SID`,
`SMS_AUTH_TOKEN`, `SMS_FROM` and `SMS_TO`; webhooks with `WEBHOOK_URLS`; Telegram with
`TELEGRAM_TOKEN` and `TELEGRAM_CHAT_ID`; the dashboard whenever the server has a live hub
(`DASHBOARD=0` turns it off). Half a channel (a host without recipients) is refused, naming
what is missing. Lists are comma-separated (`COINSWARM_ALERT_EMAIL_TO=a@x.org,b@x.org`).

The password, the tokens and the webhook URLs (a Slack or Discord webhook URL is itself the
credential) are secrets: read from the environment, never logged, audited or returned.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from coinswarm.domain.errors import CoinswarmError

__all__ = ["ENV_PREFIX", "AlertConfigError", "AlertSettings"]

ENV_PREFIX = "COINSWARM_ALERT_"
TWILIO_URL = "https://api.twilio.com"
TELEGRAM_URL = "https://api.telegram.org"

CommaList = Annotated[list[str], NoDecode]
SecretList = Annotated[list[SecretStr], NoDecode]


class AlertConfigError(CoinswarmError, ValueError):
    """The alert settings are unusable: names the variable and what was expected."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class AlertSettings(BaseSettings):
    """The alerts' channels, rules and delivery; see the module's docstring."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # -- de-duplication and delivery ----------------------------------------------------------
    window_s: float = Field(default=900.0, gt=0)
    """An alert's key is sent once per this window (15 minutes): a storm sends one message."""
    db: str | None = None
    """Where the outbox lives; by default the server's database."""
    modes: CommaList = Field(default_factory=lambda: ["paper", "sandbox", "live"])
    """The modes whose sessions the rules watch (a backtest's losses wake nobody)."""
    timeout_s: float = Field(default=10.0, gt=0)
    retry_base_s: float = Field(default=1.0, gt=0)
    """The first retry waits this long, each next one twice as long..."""
    retry_max_s: float = Field(default=300.0, gt=0)
    """...up to this; a delivery is retried until it is delivered."""

    # -- rules ---------------------------------------------------------------------------------
    hourly_loss_pct: Decimal = Field(default=Decimal(5), gt=0, le=100)
    """A session whose equity fell more than this percent within one rolling hour."""
    phase3_loss_usd: Decimal = Field(default=Decimal(25), gt=0)
    """In phase 3 (limited real money), a day's loss over this many dollars."""
    error_burst_count: int = Field(default=5, ge=1)
    error_burst_s: float = Field(default=60.0, gt=0)
    """This many errors from one source of one session within this many seconds."""
    every_trade: bool = False
    risk_events: bool = True
    """Every circuit-breaker trip and every stop (daily, total loss, manual, emergency)."""
    session_down: bool = True
    """The dead-man's switch on the heartbeat, and a session that stops failed."""
    heartbeat_factor: float = Field(default=2.0, ge=1)
    """A session is down after this many heartbeat intervals without a beat."""

    # -- channels ------------------------------------------------------------------------------
    email_host: str | None = None
    email_port: int = Field(default=587, ge=1, le=65535)
    email_security: Literal["starttls", "tls", "none"] = "starttls"
    email_from: str | None = None
    email_to: CommaList = Field(default_factory=list)
    email_user: str | None = None
    email_password: SecretStr | None = None

    sms_url: str = TWILIO_URL
    """A Twilio-compatible API: POST {url}/2010-04-01/Accounts/{sid}/Messages.json."""
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None
    sms_to: CommaList = Field(default_factory=list)

    webhook_urls: SecretList = Field(default_factory=list)
    """Slack- or Discord-compatible incoming webhooks; each is a channel of its own."""

    telegram_url: str = TELEGRAM_URL
    telegram_token: SecretStr | None = None
    telegram_chat_id: str | None = None

    dashboard: bool = True

    _split_lists = field_validator("modes", "email_to", "sms_to", "webhook_urls", mode="before")(
        _split
    )

    def __init__(self, **values: Any) -> None:
        """Read the settings, turning pydantic's report into one `AlertConfigError` line."""
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise AlertConfigError(_one_line(error)) from None

    @model_validator(mode="after")
    def _whole_channels(self) -> AlertSettings:
        _need(
            "EMAIL",
            {"HOST": self.email_host, "FROM": self.email_from, "TO": self.email_to},
        )
        _need(
            "SMS",
            {
                "ACCOUNT_SID": self.sms_account_sid,
                "AUTH_TOKEN": self.sms_auth_token,
                "FROM": self.sms_from,
                "TO": self.sms_to,
            },
        )
        _need("TELEGRAM", {"TOKEN": self.telegram_token, "CHAT_ID": self.telegram_chat_id})
        if self.email_password is not None and not self.email_user:
            msg = f"{ENV_PREFIX}EMAIL_USER is needed with {ENV_PREFIX}EMAIL_PASSWORD"
            raise ValueError(msg)
        if self.retry_max_s < self.retry_base_s:
            msg = f"{ENV_PREFIX}RETRY_MAX_S must be at least {ENV_PREFIX}RETRY_BASE_S"
            raise ValueError(msg)
        return self

    @property
    def email_on(self) -> bool:
        return bool(self.email_host)

    @property
    def sms_on(self) -> bool:
        return bool(self.sms_account_sid)

    @property
    def telegram_on(self) -> bool:
        return self.telegram_token is not None

    def secrets(self) -> tuple[str, ...]:
        """Return every secret value, so that error text can be scrubbed of them."""
        held = [self.email_password, self.sms_auth_token, self.telegram_token, *self.webhook_urls]
        return tuple(s.get_secret_value() for s in held if s is not None and s.get_secret_value())


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in first["loc"])
    return f"{ENV_PREFIX}{where.upper()}: {message}" if where else message


def _need(channel: str, parts: dict[str, object]) -> None:
    given = [name for name, value in parts.items() if value]
    if given and len(given) < len(parts):
        missing = [f"{ENV_PREFIX}{channel}_{name}" for name in parts if name not in given]
        msg = f"the {channel.lower()} channel is half configured: set {', '.join(missing)}"
        raise ValueError(msg)
