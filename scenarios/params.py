"""Settings declared once: type, default, bounds or choices, unit and meaning in one place.

A class lists its settings as annotated class attributes made with :func:`param`; everything else
derives from that declaration: the keyword-only ``__init__`` (so a Hydra ``_target_`` builds it),
validation by pydantic with one-line errors naming the dotted setting, search spaces checked against
the same bounds, ``--help`` and the reference docs (:func:`describe`).

>>> class Smoother(Declared):
...     section = "detector.smoother"
...     tau_h: float = param(1.0, "EWMA time constant", unit="hours", gt=0)
...     layer: Literal["plain", "split"] = param("plain", "how the layer is chosen")
>>> Smoother(tau_h=2).tau_h
2.0
>>> Smoother(tau_h=0)
Traceback (most recent call last):
...
scenarios.errors.InputError: detector.smoother.tau_h: must be a number of hours > 0; got 0
>>> Smoother(tau=1)
Traceback (most recent call last):
...
scenarios.errors.InputError: detector.smoother.tau: unknown parameter; allowed: tau_h, layer
>>> [(s.name, s.allowed) for s in describe(Smoother)]
[('tau_h', 'a number of hours > 0'), ('layer', 'one of plain, split')]
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from scenarios.errors import InputError

if typing.TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = [
    "SECTION",
    "Declared",
    "Section",
    "Literal",
    "Setting",
    "check_values",
    "config_dict",
    "describe",
    "input_error",
    "param",
    "validate",
]

STRICT = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True, allow_inf_nan=False)
#: The config of a settings section declared as a pydantic model (``class XSpec(BaseModel)``).
SECTION = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


def param(
    default: Any,
    doc: str,
    *,
    unit: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    finite: bool = True,
) -> Any:
    """One setting: its default, one-line meaning, unit and bounds. Numbers are finite unless
    ``finite=False``; choices are a ``Literal[...]`` annotation; ``X | None`` allows null."""
    return Field(
        default,
        description=doc,
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        allow_inf_nan=None if finite else True,
        json_schema_extra={"unit": unit} if unit else None,
    )


# ---------------------------------------------------------------- what a setting allows, in words


def _bounds(metadata: Iterable[Any]) -> str:
    words = []
    for m in metadata:
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(m, attr, None)
            if isinstance(m, at.BaseMetadata) and value is not None:
                words.append(f"{op} {value:g}" if isinstance(value, float) else f"{op} {value}")
    return " and ".join(words)


def _kind(annotation: Any) -> tuple[str, bool]:
    """(words for the type, whether null is allowed)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kind(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        kind, _ = _kind(args[0] if len(args) == 1 else Union[tuple(args)])  # noqa: UP007
        return kind, type(None) in get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation)), False
    if origin in (tuple, list) or annotation in (tuple, list):
        inner = get_args(annotation)
        item = _kind(inner[0])[0] if inner else "values"
        return f"a list of {item.removeprefix('a ').removeprefix('an ')}s", False
    if origin is dict:
        item = _kind(get_args(annotation)[1])[0] if get_args(annotation) else "values"
        return f"a map of names to {item.removeprefix('a ').removeprefix('an ')}s", False
    if annotation is bool:
        return "true or false", False
    if annotation is int:
        return "an integer", False
    if annotation is float:
        return "a number", False
    if annotation is str:
        return "a string", False
    return getattr(annotation, "__name__", str(annotation)), False


def _unit(field: FieldInfo) -> str | None:
    """The unit a setting is declared in (``param(unit=...)``), if any."""
    extra = field.json_schema_extra
    unit = extra.get("unit") if isinstance(extra, dict) else None
    return unit if isinstance(unit, str) else None


def allowed(field: FieldInfo) -> str:
    """What a setting accepts, in the words of its error message."""
    kind, nullable = _kind(field.annotation)
    unit = _unit(field)
    if unit and kind == "a number":
        kind = f"a number of {unit}"
    bounds = _bounds(field.metadata)
    text = f"{kind} {bounds}" if bounds else kind
    return f"{text}, or null" if nullable else text


# ---------------------------------------------------------------- validation


def input_error(exc: ValidationError, section: str, model: type[BaseModel]) -> InputError:
    """The first pydantic error as one line naming the dotted setting and what it allows."""
    error = exc.errors(include_url=False)[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, InputError):  # raised by a rule that relates several settings
        return cause
    loc = [str(part) for part in error["loc"] if not str(part).startswith(("function-", "literal["))]
    path, field = [section] if section else [], None
    for part in loc:  # into nested sections (headline.budget, ...), as far as the error's setting
        path.append(part)
        field = model.model_fields.get(part)
        nested = field.annotation if field is not None else None
        if not (isinstance(nested, type) and issubclass(nested, BaseModel) and part != loc[-1]):
            break
        model = nested
    where = ".".join(path)
    if error["type"] == "extra_forbidden":
        return InputError(where, f"unknown parameter; allowed: {', '.join(model.model_fields)}")
    if error["type"] == "missing":
        return InputError(where, "is required")
    if field is None or error["type"] in ("value_error", "assertion_error"):
        return InputError(where, error["msg"].removeprefix("Value error, "))
    return InputError(where, f"must be {allowed(field)}; got {error['input']!r}")


def _plain(value: Any, annotation: Any) -> Any:
    """Config containers as plain Python; a list where the setting is a tuple becomes one."""
    if hasattr(value, "_metadata") and hasattr(value, "_content"):  # an OmegaConf container
        from omegaconf import OmegaConf

        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, list) and tuple in (get_origin(a) or a for a in (annotation, *get_args(annotation))):
        return tuple(value)
    return value


def config_dict(cfg: DictConfig | Mapping[str, Any], *, resolve: bool = True) -> dict[str, Any]:
    """A config mapping as a plain dict: an OmegaConf ``DictConfig`` converted (its interpolations
    resolved unless ``resolve=False``), any other mapping copied."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        # a DictConfig converts to a dict, whose keys are the config's setting names
        return typing.cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=resolve))
    return dict(cfg)


def _plain_values(model: type[BaseModel], values: Mapping[str, Any]) -> dict[str, Any]:
    fields = model.model_fields
    return {k: _plain(v, fields[k].annotation) if k in fields else v for k, v in values.items()}


def validate(model: type[BaseModel], values: Mapping[str, Any], section: str) -> BaseModel:
    """``model(**values)``, any error as one InputError under ``section``."""
    try:
        return model.model_validate(_plain_values(model, values))
    except ValidationError as exc:
        raise input_error(exc, section, model) from None


class Section(BaseModel):
    """A settings section that is a value (``OrgConfig``, ``ExecutorSpec``, ...): fields declared with
    :func:`param`, cross-field rules in a ``model_validator(mode="after")`` raising InputError. Built
    directly or with :func:`validate`, any error is one InputError under the class's ``section``."""

    model_config = SECTION
    section: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**_plain_values(type(self), values))
        except ValidationError as exc:
            raise input_error(exc, type(self).section, type(self)) from None

    def to_dict(self) -> dict[str, Any]:
        """The settings and their values, as plain Python."""
        return self.model_dump()


# ---------------------------------------------------------------- declared classes


class Declared:
    """Base of classes whose keyword settings are declared once with :func:`param`.

    Subclasses set ``section`` (the dotted prefix of their error messages) or override
    :meth:`settings_section`; ``__post_init__`` may add rules that relate several settings.
    """

    section: ClassVar[str] = ""
    settings_model: ClassVar[type[BaseModel]]
    __signature__: ClassVar[inspect.Signature | None]  # set for each subclass: its keyword settings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls, include_extras=True)
        fields: dict[str, tuple[Any, FieldInfo]] = {}
        for klass in reversed(cls.__mro__):
            base_model = klass.__dict__.get("settings_model")
            if base_model is not None:
                fields.update({n: (f.annotation, f) for n, f in base_model.model_fields.items()})
            for name, value in list(vars(klass).items()):
                if isinstance(value, FieldInfo):
                    value.annotation = hints[name]
                    fields[name] = (hints[name], value)
                    setattr(klass, name, value.default)  # the class shows its defaults
        # mypy checks the unpacked fields against create_model's own keywords (__config__, __base__, ...)
        cls.settings_model = create_model(  # type: ignore[call-overload]
            f"{cls.__name__}Settings", __config__=STRICT, **fields
        )
        keyword = inspect.Parameter.KEYWORD_ONLY
        declared = [
            inspect.Parameter(name, keyword, default=f.default, annotation=f.annotation)
            for name, f in cls.settings_model.model_fields.items()
        ]
        # what inspect.signature(cls) and Hydra see; a class with its own __init__ shows that one
        cls.__signature__ = inspect.Signature(declared) if cls.__init__ is Declared.__init__ else None

    def __init__(self, **values: Any) -> None:
        model = validate(type(self).settings_model, values, self.settings_section())
        for name in type(self).settings_model.model_fields:
            setattr(self, name, getattr(model, name))
        self.__post_init__()

    @classmethod
    def settings_section(cls) -> str:
        return cls.section

    def __post_init__(self) -> None:
        """Rules that relate several settings (``require``) and derived values."""

    def require(self, ok: bool, name: str, problem: str) -> None:
        """A rule relating several settings: unless ``ok``, one InputError naming the setting ``name``,
        e.g. ``self.require(self.nlta > self.nsta, "nlta", f"must be greater than nsta ({self.nsta})")``."""
        if not ok:
            raise InputError(f"{self.settings_section()}.{name}", f"{problem}; got {getattr(self, name)!r}")

    def settings(self) -> dict[str, Any]:
        """The declared settings and their values."""
        return {name: getattr(self, name) for name in type(self).settings_model.model_fields}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"


@dataclass(frozen=True)
class Setting:
    """One declared setting, for ``--help`` and the reference docs."""

    name: str
    default: Any
    allowed: str
    unit: str | None
    doc: str


def describe(owner: type[Declared] | type[BaseModel]) -> list[Setting]:
    """Every declared setting of a class or settings model, in declaration order; a nested section's
    settings by dotted name (``budget.quiet_alert_fraction``)."""
    model = owner.settings_model if issubclass(owner, Declared) else owner
    out = []
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            out += [replace(s, name=f"{name}.{s.name}") for s in describe(nested)]
            continue
        out.append(Setting(name, field.default, allowed(field), _unit(field), field.description or ""))
    return out


def check_values(owner: type[Declared], name: str, values: Iterable[Any], section: str) -> None:
    """Check each value a search space gives ``name`` against the setting's own declaration."""
    model = owner.settings_model
    if name not in model.model_fields:
        raise InputError(f"{section}.{name}", f"unknown parameter; allowed: {', '.join(model.model_fields)}")
    for value in values:
        validate(model, {name: value}, section)
