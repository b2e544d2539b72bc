"""The ``tdbench`` command: Hydra composes the config, tdbench checks it, then runs the task.

Every override is checked before Hydra creates an output folder, so bad input costs one line on
stderr, exit code 2, and nothing written.
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import detectors
import scenarios
from harness.run.files import StorageError, write_text
from harness.run.lock import FolderBusy, check_free, hold
from harness.tasks import task_module, tasks_help
from scenarios import plugins
from scenarios.errors import InputError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
ALIASES = {"scenarios": "scenario", "detectors": "detector"}
MULTIRUN_FLAGS = ("-m", "--multirun")
BARE_NULL = re.compile(r"(?<=[\[,])\s*null\s*(?=[,\]])")
EXIT_CODE_FILE = "exit_code"
STORAGE_EXIT = 74  # sysexits' EX_IOERR: the run folder could not be written
INTERRUPTED_EXIT = 130
_exit_code = 0
OmegaConf.register_new_resolver("tdbench_tasks", tasks_help, replace=True)  # for --help


def groups() -> dict[str, list[str]]:
    """Config groups and their options: the conf folder's files and the installed plugins."""
    found = {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(CONF_DIR.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_"))
    }
    for group, names in plugin_names().items():
        found[group] = sorted({*found.get(group, []), *names})
    return found


def plugin_names() -> dict[str, list[str]]:
    """Group -> names of the plugin detectors and scenarios (entry points, scenarios.plugins)."""
    return {
        "detector": [n for n in detectors.available() if detectors.is_plugin(n)],
        "scenario": [n for n in scenarios.available() if scenarios.is_plugin(n)],
    }


def store_plugin_configs() -> None:
    """Give each plugin a config in its group (``detector=[mine]``): its class at its defaults,
    nested under its name like the conf folder's files. A broken plugin is an InputError."""
    classes = {"detector": detectors.detector_class, "scenario": scenarios.scenario_class}
    store = ConfigStore.instance()
    for group, names in plugin_names().items():
        for name in names:
            if (CONF_DIR / group / f"{name}.yaml").exists():
                raise InputError(f"{group}.{name}", "a plugin's name is taken by a file in conf/")
            store.store(group=group, name=name, node={name: plugins.config_node(classes[group](name))})


def normalise(args: list[str]) -> list[str]:
    """Accept ``scenarios=`` and ``detectors=`` as aliases of the ``scenario`` and ``detector`` groups,
    and let a group list name the ``null`` option without quotes (YAML would read it as None)."""
    out = []
    group_names = set(groups())
    for arg in args:
        key, sep, value = arg.partition("=")
        prefix = key[: len(key) - len(key.lstrip("+~"))]
        bare = ALIASES.get(key[len(prefix) :], key[len(prefix) :])
        if sep and bare in group_names and value.startswith("["):
            value = BARE_NULL.sub("'null'", value)
        out.append(f"{prefix}{bare}{sep}{value}" if sep else arg)
    return out


def combinations(overrides: list[str]) -> list[list[str]]:
    """Override lists to check: sweeps at their first value, then each swept value in turn."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed, sweeps = [], []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            sweeps.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            fixed.append(o.input_line)
        check_group_choice(o)
    if not sweeps:
        return [fixed]
    first = [values[0] for values in sweeps]
    combos = [fixed + first]
    for i, values in enumerate(sweeps):
        combos.extend(fixed + first[:i] + [v] + first[i + 1 :] for v in values[1:])
    return combos


def check_group_choice(override) -> None:
    """A group override must name existing options."""
    options = groups().get(override.key_or_group)
    if options is None or override.is_delete():
        return
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else override.value()
    flat = itertools.chain.from_iterable(
        v if isinstance(v, list) else [v] for v in (values if isinstance(values, list) else [values])
    )
    for value in flat:
        name = str(value).strip("[]")
        for item in filter(None, (s.strip() for s in name.split(","))):
            if item not in options:
                raise InputError(
                    override.key_or_group, f"unknown option {item!r}; allowed: {', '.join(options)}"
                )


def composition_error(error: Exception) -> InputError:
    text = str(error).strip()
    if "hydra/launcher/" in text:
        return InputError(
            "hydra/launcher", f"{text.splitlines()[0]} (the presets need: pip install -e '.[launchers]')"
        )
    if "Could not override" in text or "Key '" in text:
        key = text.split("'")[1] if "'" in text else "override"
        return InputError(key, f"no such setting (add a new key with +{key}=...)")
    if "Could not append to config" in text or "Multiple values" in text:
        return InputError("override", text.splitlines()[0])
    return InputError("config", text.splitlines()[0] if text else type(error).__name__)


def compose_checked(args: list[str], hydra_config: bool = False) -> list[DictConfig]:
    """The composed config of every combination the command line asks for (not yet validated by
    its task). ``hydra_config`` keeps Hydra's own node (``hydra.run.dir`` and the rest)."""
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    store_plugin_configs()
    try:
        combos = combinations(overrides)
    except HydraException as error:
        raise composition_error(error) from None
    composed = []
    for combo in combos:
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                composed.append(compose("config", overrides=combo, return_hydra_config=hydra_config))
        except (HydraException, OmegaConfBaseException) as error:
            raise composition_error(error) from None
    return composed


def check(args: list[str]) -> None:
    """Compose and validate the config for every combination the command line asks for."""
    for cfg in compose_checked(args):
        task_module(cfg.get("task", "study")).validate(cfg)
    if not any(a in MULTIRUN_FLAGS for a in args):
        (cfg,) = compose_checked(args, hydra_config=True)
        check_free(cfg.hydra.run.dir)  # before Hydra writes its files into it


def run_task(cfg: DictConfig, out_dir: Path) -> int:
    """Hold the output folder, save the resolved config into it and run its task there; the exit
    code. Raises InputError, FolderBusy (another study holds the folder) and StorageError."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with hold(out_dir):
        write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        return task_module(cfg.task).run(cfg, out_dir)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> None:
    global _exit_code
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        code = run_task(cfg, out_dir)
    except (InputError, FolderBusy) as error:
        print(f"tdbench: error: {error}", file=sys.stderr)
        code = 2
    except StorageError as error:
        print(f"tdbench: error: {error}", file=sys.stderr)
        code = STORAGE_EXIT
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        (out_dir / EXIT_CODE_FILE).write_text(f"{code}\n")  # read back by SweepExitCode
    _exit_code = max(_exit_code, code)


class SweepExitCode(Callback):
    """After a multirun, take the worst exit code of its jobs. A parallel launcher (joblib, submitit)
    runs the jobs in other processes, so each job leaves its code in its output folder."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        global _exit_code
        for path in Path(config.hydra.sweep.dir).rglob(EXIT_CODE_FILE):
            _exit_code = max(_exit_code, int(path.read_text()))


class SweepCompare(Callback):
    """After a multirun, compare its jobs (``task=compare``: sweep.csv, figures, sweep.md). A sweep
    whose jobs wrote no headline.csv (another task, or every job failed) says so and is left as is."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from harness.report.sweep import write_sweep

        try:
            print(f"sweep: {write_sweep(config.hydra.sweep.dir)}")
        except InputError as error:
            print(f"sweep: not compared: {error}")


def main() -> None:
    """Entry point of the ``tdbench`` console script."""
    try:
        store_plugin_configs()
        args = normalise(sys.argv[1:])
        if not any(a.startswith("-") and a not in MULTIRUN_FLAGS for a in args):
            check(args)  # --help, --cfg and friends go straight to Hydra
    except (InputError, FolderBusy) as error:
        print(f"tdbench: error: {error}", file=sys.stderr)
        sys.exit(2)
    except StorageError as error:
        print(f"tdbench: error: {error}", file=sys.stderr)
        sys.exit(STORAGE_EXIT)
    sys.argv = [sys.argv[0], *args]
    try:
        hydra_entry()
    except KeyboardInterrupt as stop:  # harness.run.study.Interrupted says how much is stored
        print(str(stop) or "interrupted; run the same command again to finish", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    sys.exit(_exit_code)
