"""Typed models of virtual keys, providers and integrations: frozen attrs classes, open enums.

Every field is optional and nullable because the live API does not follow its spec to the
letter (it sends ``usage_limits: null``, ``expires_at: null`` and fields the spec omits). Keys the
model does not know are kept in ``extra`` and written back by :meth:`Model.to_dict`, so a
newer server never loses data in a round trip through an older SDK.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from types import UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs
from attrs import Attribute

__all__ = [
    "AzureDeployment",
    "GlobalWorkspaceAccess",
    "Integration",
    "IntegrationConfigurations",
    "IntegrationModel",
    "IntegrationModelUpdate",
    "IntegrationObject",
    "IntegrationStatus",
    "IntegrationWorkspace",
    "Limits",
    "Model",
    "OpenEnum",
    "PeriodicReset",
    "Provider",
    "ProviderBase",
    "ProviderObject",
    "ProviderStatus",
    "RateLimit",
    "RateLimitType",
    "RateLimitUnit",
    "ResourceRef",
    "SecretMapping",
    "SecretValueFormat",
    "UsageLimitType",
    "UsageLimits",
    "VirtualKey",
    "VirtualKeyObject",
    "VirtualKeyStatus",
    "WorkspaceAccess",
    "alias_of",
    "install_codec",
    "limits_field",
]

_E = TypeVar("_E", bound="OpenEnum")
_M = TypeVar("_M")


class OpenEnum(str, enum.Enum):
    """A str-valued enum that also accepts values it does not know.

    Members compare equal to their strings (``status == "active"``). An unknown value
    (``"archived"``) becomes a pseudo-member whose ``known`` is ``False`` instead of failing, so a
    server that grows a new state does not break every client in the field.

    Values are case-sensitive, exactly as the API sends them: ``"ACTIVE"`` is an unknown value,
    not :attr:`VirtualKeyStatus.ACTIVE`. Folding case would guess at a meaning the server never
    stated (it compares values exactly), and ``to_dict()`` could no longer give back the value
    that was received.

    ``cls(v) is cls(v)`` holds for every real member. A pseudo-member is equal to any other
    of the same value; only the most recent few unknown values of each enum are kept for reuse,
    so a server sending endless distinct values cannot grow the process's memory.
    """

    @classmethod
    def _missing_(cls: type[_E], value: object) -> _E | None:
        if not isinstance(value, str):
            return None
        return _pseudo_member(cls, value)

    @property
    def known(self) -> bool:
        """Whether this is one of the members the SDK was built to know (not a pseudo-member).

        Decided by identity, not by name: an unknown ``"ACTIVE"`` is not ``ACTIVE``.
        """
        return type(self)._member_map_.get(self._name_) is self

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        if self.known:
            return f"<{type(self).__name__}.{self._name_}: {self.value!r}>"
        return f"<{type(self).__name__} (unknown): {self.value!r}>"


# Unknown values kept for reuse, per enum class. Bounded, so that what a server can make the
# process retain is a few KB, not one object per distinct value ever received; values longer
# than any real state are never kept.
_PSEUDO_KEPT: Final = 32
_PSEUDO_VALUE_KEPT: Final = 64
_pseudo_lock: Final = threading.RLock()
# Insertion-ordered: the first key is the oldest, evicted first. The fast structuring path finds
# kept pseudo-members in the enum's own _value2member_map_ and cannot report use, so this is
# first-in first-out rather than least-recently-used; a value evicted is simply built again.
_pseudo_kept: Final[dict[type[OpenEnum], dict[str, OpenEnum]]] = {}


def _pseudo_member(cls: type[_E], value: str) -> _E:
    value = str.__str__(value)  # a str subclass (another enum's member) is kept as plain text
    member = str.__new__(cls, value)
    member._name_ = value.upper().replace("-", "_")
    member._value_ = value
    if len(value) > _PSEUDO_VALUE_KEPT:
        return member
    with _pseudo_lock:
        # _value2member_map_ is where Enum (and _fast_structure) look members up by value.
        table = cls._value2member_map_
        existing = table.get(value)
        if existing is not None:  # another thread made it meanwhile
            return existing  # type: ignore[return-value]
        kept = _pseudo_kept.setdefault(cls, {})
        if len(kept) >= _PSEUDO_KEPT:
            oldest = next(iter(kept))
            del kept[oldest]
            table.pop(oldest, None)
        kept[value] = member
        table[value] = member
    return member


class VirtualKeyStatus(OpenEnum):
    """State of a virtual key."""

    ACTIVE = "active"
    EXHAUSTED = "exhausted"


class VirtualKeyObject(OpenEnum):
    """The ``object`` discriminator of a virtual key response."""

    VIRTUAL_KEY = "virtual-key"


class ProviderStatus(OpenEnum):
    """State of a provider: unlike a virtual key, a provider can also be ``expired``."""

    ACTIVE = "active"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"


class ProviderObject(OpenEnum):
    """The ``object`` discriminator of a provider response."""

    PROVIDER = "provider"


class IntegrationStatus(OpenEnum):
    """State of an integration."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class IntegrationObject(OpenEnum):
    """The ``object`` discriminator of an integration response."""

    INTEGRATION = "integration"


class UsageLimitType(OpenEnum):
    """What a credit limit counts."""

    COST = "cost"
    TOKENS = "tokens"


class PeriodicReset(OpenEnum):
    """How often a usage counter resets."""

    MONTHLY = "monthly"
    WEEKLY = "weekly"


class RateLimitType(OpenEnum):
    """What a rate limit counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"


class RateLimitUnit(OpenEnum):
    """The window of a rate limit: per day, hour or minute."""

    RPD = "rpd"
    RPH = "rph"
    RPM = "rpm"


class SecretValueFormat(OpenEnum):
    """How a referenced secret's value is applied to its target field."""

    JSON = "json"
    STRING = "string"


def _extra_field() -> Any:
    # Unknown keys live here; `repr=False` keeps server data that may be sensitive out of logs.
    return attrs.field(factory=dict, repr=False, kw_only=True)


# What from_dict/to_dict delegate to. Models are the bottom floor of the package: they import
# neither the converter nor the fast path, which install themselves here instead. Importing any
# portkey_vk module first runs portkey_vk/__init__, which imports the fast path, so the codec is
# always in place before a model can be used.
_codec: Final[dict[str, Callable[..., Any]]] = {}


def install_codec(
    structure: Callable[[object, type[Any]], Any],
    unstructure: Callable[[object], dict[str, Any]],
) -> None:
    """Install the functions behind :meth:`Model.from_dict` and :meth:`Model.to_dict`.

    Called once by ``portkey_vk._fast_structure`` when it is imported.
    """
    _codec["structure"] = structure
    _codec["unstructure"] = unstructure


class Model:
    """Base of every model: shared ``from_dict``/``to_dict``; the converter does the work.

    A subclass decorated with ``@attrs.define(frozen=True, slots=True)`` is all it takes: the
    converter and the fast structuring path find and compile it on first use, so no list of
    models is kept anywhere.
    """

    __slots__ = ()

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """Build an instance from a JSON-like dict (as the API returns it).

        The same rules apply as to an answer from the API: no number may be NaN or infinite,
        anywhere (also inside ``model_config``, ``tags`` or keys the model does not know), so a
        model always equals itself and ``to_dict()`` is always valid JSON; and those free-form
        values may nest at most 128 levels deep. Limits (``rate_limits``, ``usage_limits``) are
        read in the object form and the array form, as the API sends either.

        Raises:
            APIResponseValidationError: a known field has the wrong type, or a value breaks the
                rules above; the message names the field path (``$.model_config['a'][0]``).
        """
        result: _M = _codec["structure"](data, cls)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict; ``from_dict(x.to_dict()) == x``.

        Dates are ISO 8601 strings, enums their string values, and keys the model did not know
        are returned unchanged.
        """
        result: dict[str, Any] = _codec["unstructure"](self)
        return result


class Limits(Model):
    """Base of the limits models (:class:`UsageLimits`, :class:`RateLimit`).

    The live API sends a limits field either as one object or as an array of them, whatever the
    document says; one rule in the converter reads both into what the model holds. A field typed
    ``tuple[<Limits>, ...] | None`` takes an object as a sequence of one; a field typed
    ``<Limits> | None`` takes an array of one as that object (an array of several is a
    validation error naming the field); ``[]`` and ``null`` are "none" (``()`` and ``None``
    respectively, for a sequence: what ``to_dict`` gives back). Any model field typed so gets
    the rule: none is listed anywhere.
    """

    __slots__ = ()


def limits_field(tp: object) -> tuple[type[Limits], bool] | None:
    """``(item model, is a sequence)`` when ``tp`` is a limits field's type, else ``None``.

    A limits field is typed ``L | None`` or ``tuple[L, ...] | None`` with ``L`` a :class:`Limits`.
    """
    args = get_args(tp)
    if get_origin(tp) not in (Union, UnionType) or len(args) != 2 or type(None) not in args:
        return None
    inner: object = args[1] if args[0] is type(None) else args[0]
    many = get_origin(inner) is tuple
    if many:
        items = get_args(inner)
        if len(items) != 2 or items[1] is not Ellipsis:
            return None
        inner = items[0]
    if isinstance(inner, type) and issubclass(inner, Limits):
        return inner, many
    return None


# attrs metadata key of a field the API also sends under another name (alias_of below).
_ALIAS: Final = "portkey_vk.alias"


def alias_of(field: Attribute[Any]) -> str | None:
    """The other key the API sends ``field`` under, if it has one.

    The documented key wins when an answer has both; the other then stays in ``extra``.
    """
    alias: str | None = field.metadata.get(_ALIAS)
    return alias


@attrs.define(frozen=True, slots=True)
class UsageLimits(Limits):
    """Credit limits (on a virtual key, a provider, a workspace's access to an integration).

    Attributes:
        credit_limit: the limit, in cost units or tokens (see ``type``).
        type: whether the limit counts ``cost`` or ``tokens``.
        alert_threshold: usage at which Portkey alerts.
        periodic_reset: ``monthly`` or ``weekly`` reset of the counter.
        periodic_reset_days: reset every N days (exclusive with ``periodic_reset``).
        next_usage_reset_at: when the counter next resets.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    credit_limit: float | None = None
    type: UsageLimitType | None = None
    alert_threshold: float | None = None
    periodic_reset: PeriodicReset | None = None
    periodic_reset_days: int | None = None
    next_usage_reset_at: datetime | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class RateLimit(Limits):
    """One rate limit, e.g. 100 ``requests`` per minute (``rpm``).

    On a virtual key, a provider, or a workspace's access to an integration.

    Attributes:
        type: ``requests`` or ``tokens``.
        unit: ``rpd``, ``rph`` or ``rpm``.
        value: the limit per unit.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    type: RateLimitType | None = None
    unit: RateLimitUnit | None = None
    value: int | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class SecretMapping(Model):
    """A field of the virtual key filled from a secret reference.

    Attributes:
        target_field: ``key`` or ``model_config.<field>``.
        secret_reference_id: UUID or slug of the secret reference.
        secret_key: overrides the secret reference's own ``secret_key``.
        value_format: ``string`` or ``json``.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    target_field: str | None = None
    secret_reference_id: str | None = None
    secret_key: str | None = None
    value_format: SecretValueFormat | None = None
    extra: Mapping[str, Any] = _extra_field()


def _field_order(*names: str) -> Any:
    """An attrs ``field_transformer`` that puts the named fields first, in this order.

    attrs lists inherited fields before a class's own; this keeps a model's ``repr``,
    ``to_dict`` key order and positional arguments as they were before it had a base class.
    """

    def transform(cls: type, fields: list[Attribute[Any]]) -> list[Attribute[Any]]:
        by_name = {field.name: field for field in fields}
        return [by_name[name] for name in names] + [f for f in fields if f.name not in names]

    return transform


@attrs.define(frozen=True, slots=True)
class ProviderBase(Model):
    """What a virtual key and a provider have in common: a slug, limits, dates.

    Virtual keys are being replaced by providers; code that only reads these fields works with
    either (``def audit(item: ProviderBase)``). Their ``status`` and ``object`` differ in the
    values they can take, so each subclass types those itself.

    Attributes:
        slug: the slug, used to retrieve it (and, for a provider, in ``model="@slug/..."``).
        name: display name.
        note: free-text note.
        usage_limits: credit limits, if any.
        reset_usage: usage counted since the last reset.
        created_at: creation time (timezone-aware).
        expires_at: expiry time (timezone-aware), if any.
        rate_limits: rate limits, if any.
        id: its UUID (the live API sends it; the spec does not list it).
        integration_id: the integration it draws its credentials from.
        last_reset_at: when usage was last reset.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    slug: str | None = None
    name: str | None = None
    note: str | None = None
    usage_limits: UsageLimits | None = None
    reset_usage: float | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    rate_limits: tuple[RateLimit, ...] | None = None
    id: str | None = None
    integration_id: str | None = None
    last_reset_at: datetime | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(
    frozen=True,
    slots=True,
    field_transformer=_field_order(
        "slug",
        "name",
        "note",
        "status",
        "usage_limits",
        "reset_usage",
        "created_at",
        "expires_at",
        "model_config",
        "rate_limits",
        "secret_mappings",
        "object",
        "id",
        "ai_provider_name",
        "key",
        "masked_api_key",
        "integration_id",
        "last_reset_at",
        "tags",
    ),
)
class VirtualKey(ProviderBase):
    """A Portkey virtual key, as ``GET /virtual-keys/{slug}`` returns it.

    Every field may be ``None``: the live API omits or nulls fields freely. Fields the spec does
    not list but the live API sends (``id``, ``ai_provider_name``, ``key``, ``masked_api_key``,
    ``integration_id``, ``last_reset_at``, ``tags``) are typed attributes too. The fields it
    shares with :class:`Provider` come from :class:`ProviderBase`.

    Attributes:
        slug: the virtual key's slug, used to retrieve it.
        name: display name.
        note: free-text note.
        status: ``active`` or ``exhausted`` (or a newer value, kept as an open enum member).
        usage_limits: credit limits, if any.
        reset_usage: usage counted since the last reset.
        created_at: creation time (timezone-aware).
        expires_at: expiry time (timezone-aware), if any.
        model_config: provider-specific configuration.
        rate_limits: rate limits, if any.
        secret_mappings: fields filled from secret references.
        object: always ``virtual-key`` today.
        id: the key's UUID.
        ai_provider_name: the provider behind the key, e.g. ``openai``.
        key: the provider key as the API returns it (masked); hidden from ``repr``.
        masked_api_key: the masked provider key.
        integration_id: the integration the key belongs to.
        last_reset_at: when usage was last reset.
        tags: tags attached to the key.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    status: VirtualKeyStatus | None = None
    model_config: Mapping[str, Any] | None = None
    secret_mappings: tuple[SecretMapping, ...] | None = None
    object: VirtualKeyObject | None = None
    ai_provider_name: str | None = None
    key: str | None = attrs.field(default=None, repr=False)
    masked_api_key: str | None = None
    tags: Any = None


@attrs.define(
    frozen=True,
    slots=True,
    field_transformer=_field_order(
        "slug",
        "name",
        "note",
        "status",
        "usage_limits",
        "reset_usage",
        "created_at",
        "expires_at",
        "rate_limits",
        "object",
        "id",
        "integration_id",
        "ai_provider_id",
        "last_reset_at",
    ),
)
class Provider(ProviderBase):
    """A Portkey provider, as ``GET /providers/{slug}`` returns it: what replaces a virtual key.

    A provider draws its credentials from an integration (``integration_id``) and adds its own
    limits; requests name it in the model string, ``model="@<slug>/gpt-4o"``. Every field may
    be ``None``, as for :class:`VirtualKey`; the fields the two share come from
    :class:`ProviderBase`.

    Attributes:
        slug: the provider's slug, used in ``model="@<slug>/<model>"`` and to retrieve it.
        name: display name.
        note: free-text note.
        status: ``active``, ``exhausted`` or ``expired`` (or a newer value, kept as an open
            enum member).
        usage_limits: credit limits, if any.
        reset_usage: usage counted since the last reset.
        created_at: creation time (timezone-aware).
        expires_at: expiry time (timezone-aware), if any.
        rate_limits: rate limits, if any.
        object: always ``provider`` today.
        id: the provider's UUID.
        integration_id: the integration whose credentials it uses.
        ai_provider_id: the AI provider behind it, e.g. ``openai`` (the live API sends it; the
            spec does not list it).
        last_reset_at: when usage was last reset.
        workspace_id: the workspace it belongs to (the live API sends it; the spec does not
            list it).
        last_updated_at: last change (timezone-aware), if the answer says.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    status: ProviderStatus | None = None
    object: ProviderObject | None = None
    ai_provider_id: str | None = None
    workspace_id: str | None = None
    last_updated_at: datetime | None = None


@attrs.define(frozen=True, slots=True)
class ResourceRef(Model):
    """What a create returns: the new resource's slug (and id, when the answer has one).

    Portkey answers a virtual key create with ``{"success": true, "data": {"slug": ...}}`` and
    a provider create with a bare ``{"id": ..., "slug": ...}``; both become this.

    Attributes:
        slug: the new resource's slug, to retrieve, update or delete it by.
        id: its UUID, when the answer carried one.
        object: the answer's ``object`` discriminator, when it carried one.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    slug: str | None = None
    id: str | None = None
    object: str | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class AzureDeployment(Model):
    """One Azure OpenAI deployment of an integration.

    Attributes:
        alias: the name requests use for it.
        azure_api_version: the Azure API version.
        azure_deployment_name: the deployment's name in Azure.
        is_default: whether requests without an alias use it.
        azure_model_slug: the model it serves.
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    alias: str | None = None
    azure_api_version: str | None = None
    azure_deployment_name: str | None = None
    is_default: bool | None = None
    azure_model_slug: str | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class IntegrationConfigurations(Model):
    """An integration's provider settings, as ``GET /integrations/{slug}`` shows them (masked).

    The document describes one shape per AI provider (OpenAI, Azure OpenAI, Bedrock, Vertex AI,
    Azure AI, Workers AI, SageMaker, Hugging Face, Cortex, custom host); this model holds the
    union of their fields, so only those of the integration's provider are set. Portkey masks
    sensitive values and renames them with a ``masked_`` prefix (``aws_secret_access_key`` is
    served as ``masked_aws_secret_access_key``); the masked fields the document implies are
    typed below, any other lands in ``extra``, which ``repr`` never shows.

    Attributes:
        openai_organization: OpenAI organization ID.
        openai_project: OpenAI project ID.
        azure_auth_mode: Azure authentication mode: ``default``, ``entra`` or ``managed``.
        azure_resource_name: Azure OpenAI resource name.
        azure_deployment_config: Azure OpenAI deployments.
        azure_foundry_url: Azure AI Foundry URL.
        azure_api_version: Azure AI API version.
        azure_deployment_name: Azure AI deployment name.
        azure_entra_tenant_id: Azure AD tenant ID (``entra`` auth).
        azure_entra_client_id: Azure AD client ID (``entra`` auth).
        masked_azure_entra_client_secret: the Azure AD client secret, masked.
        azure_managed_client_id: managed identity client ID (``managed`` auth).
        aws_auth_type: AWS authentication type: ``accessKey`` or ``assumedRole``.
        aws_region: AWS region.
        aws_access_key_id: AWS access key ID (``accessKey`` auth).
        masked_aws_secret_access_key: the AWS secret access key, masked.
        aws_role_arn: AWS role ARN (``assumedRole`` auth).
        aws_external_id: AWS external ID (``assumedRole`` auth).
        amzn_sagemaker_custom_attributes: SageMaker custom attributes.
        amzn_sagemaker_target_model: SageMaker target model.
        amzn_sagemaker_target_variant: SageMaker target variant.
        amzn_sagemaker_target_container_hostname: SageMaker target container hostname.
        amzn_sagemaker_inference_id: SageMaker inference ID.
        amzn_sagemaker_enable_explanations: SageMaker "enable explanations" setting.
        amzn_sagemaker_inference_component: SageMaker inference component.
        amzn_sagemaker_session_id: SageMaker session ID.
        amzn_sagemaker_model_name: SageMaker model name.
        vertex_auth_type: Vertex AI authentication type: ``basic`` or ``serviceAccount``.
        vertex_region: GCP region.
        vertex_project_id: GCP project ID.
        masked_vertex_service_account_json: the service account JSON, masked (its masked form
            is not documented, so it is not typed).
        workers_ai_account_id: Cloudflare Workers AI account ID.
        huggingface_base_url: a custom Hugging Face base URL.
        snowflake_account: Snowflake account identifier (Cortex).
        custom_host: a custom host URL.
        custom_headers: headers sent with every request to the custom host.
        extra: keys the SDK does not know, kept for ``to_dict``; hidden from ``repr``.
    """

    openai_organization: str | None = None
    openai_project: str | None = None
    azure_auth_mode: str | None = None
    azure_resource_name: str | None = None
    azure_deployment_config: tuple[AzureDeployment, ...] | None = None
    azure_foundry_url: str | None = None
    azure_api_version: str | None = None
    azure_deployment_name: str | None = None
    azure_entra_tenant_id: str | None = None
    azure_entra_client_id: str | None = None
    masked_azure_entra_client_secret: str | None = None
    azure_managed_client_id: str | None = None
    aws_auth_type: str | None = None
    aws_region: str | None = None
    aws_access_key_id: str | None = None
    masked_aws_secret_access_key: str | None = None
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    amzn_sagemaker_custom_attributes: str | None = None
    amzn_sagemaker_target_model: str | None = None
    amzn_sagemaker_target_variant: str | None = None
    amzn_sagemaker_target_container_hostname: str | None = None
    amzn_sagemaker_inference_id: str | None = None
    amzn_sagemaker_enable_explanations: str | None = None
    amzn_sagemaker_inference_component: str | None = None
    amzn_sagemaker_session_id: str | None = None
    amzn_sagemaker_model_name: str | None = None
    vertex_auth_type: str | None = None
    vertex_region: str | None = None
    vertex_project_id: str | None = None
    masked_vertex_service_account_json: Any = None
    workers_ai_account_id: str | None = None
    huggingface_base_url: str | None = None
    snowflake_account: str | None = None
    custom_host: str | None = None
    custom_headers: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class GlobalWorkspaceAccess(Model):
    """Whether an integration is enabled for every workspace, present and future.

    Attributes:
        enabled: whether global workspace access is on.
        usage_limits: the usage limits each workspace gets (at most one; read from an object
            too).
        rate_limits: the rate limits each workspace gets (at most one; read from an object too).
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    enabled: bool | None = None
    usage_limits: tuple[UsageLimits, ...] | None = None
    rate_limits: tuple[RateLimit, ...] | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class Integration(Model):
    """A Portkey integration: an AI provider's credentials, which providers draw on.

    ``client.integrations.list()`` gives the summary fields; ``retrieve(slug)`` adds the
    details (``masked_key``, ``configurations``, ...), which are ``None`` on list items.

    Attributes:
        id: the integration's UUID.
        organisation_id: the organisation's UUID.
        ai_provider_id: the AI provider, e.g. ``openai``.
        name: display name.
        status: ``active`` or ``archived`` (or a newer value, kept as an open enum member).
        created_at: creation time (timezone-aware).
        last_updated_at: last change (timezone-aware), if any.
        slug: the integration's slug: what ``providers.create(integration_id=...)`` takes.
        description: free-text description.
        object: always ``integration`` today.
        masked_key: the provider API key, masked.
        configurations: provider-specific settings, sensitive ones masked.
        global_workspace_access_settings: access for every workspace, if configured; read from
            ``global_workspace_access`` too (the name the official SDKs read) when the answer
            has no ``global_workspace_access_settings``.
        allow_all_models: whether new models are enabled by default.
        workspace_count: how many workspaces can use it.
        secret_mappings: fields filled from secret references.
        pricing_adjustments: pricing multipliers applied on top of Portkey's base pricing, as
            the API sends them.
        workspace_id: the workspace it belongs to, for a workspace-scoped integration.
        owner_id: the UUID of its owner (the official SDKs read it; the spec does not list it).
        extra: keys the SDK does not know (``type``, ...), kept for ``to_dict``.
    """

    id: str | None = None
    organisation_id: str | None = None
    ai_provider_id: str | None = None
    name: str | None = None
    status: IntegrationStatus | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    slug: str | None = None
    description: str | None = None
    object: IntegrationObject | None = None
    masked_key: str | None = None
    configurations: IntegrationConfigurations | None = None
    global_workspace_access_settings: GlobalWorkspaceAccess | None = attrs.field(
        default=None, metadata={_ALIAS: "global_workspace_access"}
    )
    allow_all_models: bool | None = None
    workspace_count: int | None = None
    secret_mappings: tuple[SecretMapping, ...] | None = None
    pricing_adjustments: Mapping[str, Any] | None = None
    workspace_id: str | None = None
    owner_id: str | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class IntegrationModel(Model):
    """One model of an integration, as ``GET /integrations/{slug}/models`` lists it.

    Attributes:
        slug: the model's slug, e.g. ``gpt-4o``.
        name: display name.
        enabled: whether the integration's providers may use it.
        is_custom: whether it is a custom model.
        is_finetune: whether it is a fine-tuned model.
        base_model_slug: the model a fine-tune is based on.
        pricing_config: its pricing, as the API sends it.
        created_at: when it was added (timezone-aware).
        last_updated_at: last change (timezone-aware).
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    slug: str | None = None
    name: str | None = None
    enabled: bool | None = None
    is_custom: bool | None = None
    is_finetune: bool | None = None
    base_model_slug: str | None = None
    pricing_config: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class IntegrationWorkspace(Model):
    """A workspace's access to an integration, as ``GET /integrations/{slug}/workspaces`` has it.

    Attributes:
        id: the workspace's ID.
        enabled: whether the workspace may use the integration.
        usage_limits: the workspace's usage limits (at most one; read from an object too).
        rate_limits: the workspace's rate limits (at most one; read from an object too).
        created_at: when access was granted (timezone-aware).
        last_updated_at: last change (timezone-aware).
        extra: keys the SDK does not know, kept for ``to_dict``.
    """

    id: str | None = None
    enabled: bool | None = None
    usage_limits: tuple[UsageLimits, ...] | None = None
    rate_limits: tuple[RateLimit, ...] | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class IntegrationModelUpdate(Model):
    """One model to enable or disable on an integration (``integrations.models.update``).

    ``slug`` and ``enabled`` are required: ``update`` refuses an item without them.

    Attributes:
        slug: the model's slug, e.g. ``gpt-4o`` (a new slug with ``is_custom=True`` adds a
            custom model).
        enabled: whether the integration's providers may use it.
        is_custom: whether it is a custom model.
        is_finetune: whether it is a fine-tuned model.
        base_model_slug: the model a fine-tune is based on.
        pricing_config: its pricing (``{"type": "static", "pay_as_you_go": {...}}``).
        configurations: model settings, e.g. ``{"custom_host": "https://..."}``.
        extra: more fields to send, for what the SDK does not know yet.
    """

    slug: str | None = None
    enabled: bool | None = None
    is_custom: bool | None = None
    is_finetune: bool | None = None
    base_model_slug: str | None = None
    pricing_config: Mapping[str, Any] | None = None
    configurations: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = _extra_field()


@attrs.define(frozen=True, slots=True)
class WorkspaceAccess(Model):
    """A workspace's access to an integration, to grant or change (``workspaces.update``).

    ``id`` and ``enabled`` are required: ``update`` refuses an item without them. Limits are
    given as one object each (an array of one is read too) and sent as the document's array
    of at most one.

    Attributes:
        id: the workspace's ID.
        enabled: ``True`` grants access, ``False`` revokes it.
        usage_limits: the workspace's usage limits on this integration.
        rate_limits: the workspace's rate limits on this integration.
        reset_usage: ``True`` resets the usage counted against the limits (an exhausted
            workspace becomes active again).
        create_default_provider: whether to create a default provider in the workspace
            (overrides the call's ``create_default_provider``).
        default_provider_slug: the slug of that default provider.
        extra: more fields to send, for what the SDK does not know yet.
    """

    id: str | None = None
    enabled: bool | None = None
    usage_limits: UsageLimits | None = None
    rate_limits: RateLimit | None = None
    reset_usage: bool | None = None
    create_default_provider: bool | None = None
    default_provider_slug: str | None = None
    extra: Mapping[str, Any] = _extra_field()
