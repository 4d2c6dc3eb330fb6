"""Configuration: the CLI's settings, loaded the same way (``sonar.config.PipelineConfig``).

``PipelineConfig()`` reads ``config/default_config.yaml`` from the working directory (or the
built-in defaults when there is none), ``PipelineConfig("my.yaml")`` a given file; a scenario
file, the environment (``SONAR_WAZUH_PASSWORD``, ``SONAR_WAZUH_URL``, ...) and keyword sections
layer on top exactly as for the CLI, with the same validation: a wrong value raises
``ConfigError`` naming the file and key path. The password is never readable from Python.
"""

import json
import logging
import os
from collections.abc import Mapping

from sonar import _native

log = logging.getLogger("sonar")

_SECTIONS = ("wazuh", "mvad", "features", "debug", "shipping")


class Section:
    """A read-only view of one config section (``cfg.wazuh``, ``cfg.features``, ...) that
    remembers the settings it came from, so components built from it see the whole run."""

    def __init__(self, name, values, native):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_native", native)

    def __getattr__(self, key):
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config section `{self._name}` has no key `{key}`") from None

    def __setattr__(self, key, value):
        raise AttributeError(
            f"config sections are read-only: pass {self._name}={{'{key}': ...}} to PipelineConfig"
        )

    def to_dict(self):
        return dict(self._values)

    def __repr__(self):
        body = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({body})"


class WazuhIndexerConfig(Section):
    """The ``wazuh`` section. ``WazuhIndexerConfig(base_url=..., username=..., password=...)``
    builds one over the built-in defaults (and the environment). The password is write-only:
    ``password_set`` says whether one is configured."""

    def __init__(self, *args, **keys):
        if args:  # (name, values, native): a view of loaded settings
            super().__init__(*args)
            return
        view = PipelineConfig(None, wazuh=keys).wazuh
        super().__init__("wazuh", view._values, view._native)


class MVADConfig(Section):
    """The ``mvad`` section (``sliding_window``, ``device``, ``extra_params``)."""

    def __init__(self, *args, **keys):
        if args:
            super().__init__(*args)
            return
        view = PipelineConfig(None, mvad=keys).mvad
        super().__init__("mvad", view._values, view._native)


class FeatureConfig(Section):
    """The ``features`` section (``numeric_fields``, ``bucket_minutes``, ...).
    ``FeatureConfig(numeric_fields=[...], bucket_minutes=5)`` builds one over the defaults."""

    def __init__(self, *args, **keys):
        if args:
            super().__init__(*args)
            return
        view = PipelineConfig(None, features=keys).features
        super().__init__("features", view._values, view._native)


class DebugConfig(Section):
    """The ``debug`` section (``enabled``, the demo data files, ``anomalies_file``)."""


class ShippingConfig(Section):
    """The ``shipping`` section (``enabled``, ``install_templates``, ``scenario_id``)."""


_CLASSES = {
    "wazuh": WazuhIndexerConfig,
    "mvad": MVADConfig,
    "features": FeatureConfig,
    "debug": DebugConfig,
    "shipping": ShippingConfig,
}


class PipelineConfig:
    """One run's settings.

    ``PipelineConfig(config_path=None, *, scenario=None, debug=False, model_path=None,
    **sections)``: ``config_path`` defaults to ``config/default_config.yaml`` when it exists;
    ``scenario`` is a scenario YAML (as ``--scenario``); ``debug=True`` is ``--debug`` (local
    demo files in, local JSONL out; ``debug.enabled: true`` in the file works too), and
    ``debug={...}`` the ``debug`` section (``{"enabled": True, "anomalies_file": ...}``);
    ``model_path`` replaces the model directory; each of ``wazuh``, ``mvad``, ``features``,
    ``debug``, ``shipping`` may be a dict merged over the file's section (an unknown key is an
    error). Attributes: ``wazuh``, ``mvad``, ``features``, ``debug``, ``shipping`` (read-only
    sections), ``model_path``, ``model_name``, ``detection``, ``warnings``.
    """

    def __init__(self, config_path=None, *, scenario=None, debug=False, model_path=None, **sections):
        if isinstance(debug, Mapping):  # the `debug` section; its `enabled` switches debug mode
            sections["debug"], debug = debug, False
        unknown = sorted(set(sections) - set(_SECTIONS))
        if unknown:
            raise TypeError(
                f"PipelineConfig() got unknown section(s) {unknown}; known: {list(_SECTIONS)}"
            )
        self._native = _native.load_settings(
            os.fspath(config_path) if config_path is not None else None,
            os.fspath(scenario) if scenario is not None else None,
            json.dumps(sections) if sections else None,
            bool(debug),
            os.fspath(model_path) if model_path is not None else None,
        )
        for warning in self._native.warnings:
            log.warning("%s", warning)
        self._refresh()

    def _refresh(self):
        view = json.loads(self._native.describe())
        for name in _SECTIONS:
            setattr(self, name, _CLASSES[name](name, view[name], self._native))
        self.detection = view["detection"]
        self.model_path = view["model_path"]
        self.model_name = view["model_name"]
        self.scenario_name = view["scenario_name"]

    @property
    def warnings(self):
        """Warnings of the load (unknown keys, ``verify_ssl: false``, ...)."""
        return list(self._native.warnings)

    def __repr__(self):
        return (
            f"PipelineConfig(model_path={self.model_path!r}, debug={self.debug.enabled!r}, "
            f"base_url={self.wazuh.base_url!r})"
        )


def native_settings(cfg):
    """The native settings behind a PipelineConfig or one of its sections."""
    native = getattr(cfg, "_native", None)
    if native is None:
        raise TypeError(
            f"expected a sonar.config.PipelineConfig or one of its sections, not {type(cfg).__name__}"
        )
    return native


__all__ = [
    "PipelineConfig",
    "WazuhIndexerConfig",
    "MVADConfig",
    "FeatureConfig",
    "DebugConfig",
    "ShippingConfig",
]
