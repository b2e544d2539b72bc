"""The ``tdbench`` command: Hydra composes the config, tdbench checks it, then runs the task.

Every override is checked before Hydra creates an output folder, so bad input costs one line on
stderr, exit code 2, and nothing written.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import resolve
from harness.run.files import StorageError, write_text
from harness.run.lock import FolderBusy, check_free, hold
from harness.tasks import task_module
from scenarios.errors import InputError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
ALIASES = {"scenarios": "scenario", "detectors": "detector"}
MULTIRUN_FLAGS = ("-m", "--multirun")
BARE_NULL = re.compile(r"(?<=[\[,])\s*null\s*(?=[,\]])")
EXIT_CODE_FILE = "exit_code"
STORAGE_EXIT = 74  # sysexits' EX_IOERR: the run folder could not be written
INTERRUPTED_EXIT = 130
_exit_code = 0


def groups() -> dict[str, list[str]]:
    """Config groups and their options, from the conf folder."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(CONF_DIR.iterdir())
        if d.is_dir() and not d.name.startswith((".", "_"))
    }


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


def check(args: list[str]) -> None:
    """Compose and validate the config for every combination the command line asks for."""
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    try:
        combos = combinations(overrides)
    except HydraException as error:
        raise composition_error(error) from None
    for combo in combos:
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = compose("config", overrides=combo)
        except (HydraException, OmegaConfBaseException) as error:
            raise composition_error(error) from None
        task_module(cfg.get("task", "study")).validate(cfg)
    if not any(a in MULTIRUN_FLAGS for a in args):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            run_dir = compose("config", overrides=combos[0], return_hydra_config=True).hydra.run.dir
        check_free(run_dir)  # before Hydra writes its files into it


def leave_out_missing_extras(args: list[str]) -> list[str]:
    """The command line, plus a deletion of each composed detector whose optional extra is missing
    (with a note on stderr) unless the command line names it; a named one fails validation, naming
    the extra."""
    overrides = [a for a in args if a not in MULTIRUN_FLAGS]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=combinations(overrides)[0])
        specs = OmegaConf.to_container(cfg.get("detector") or {})
    except (HydraException, OmegaConfBaseException, InputError):
        return args  # check() reports it
    left_out = []
    for name, spec in specs.items():
        try:
            needs = getattr(resolve(spec["_target_"], f"detector.{name}"), "requires", None)
        except (InputError, KeyError, TypeError):
            continue  # check() reports it
        if needs and importlib.util.find_spec(needs[0]) is None and not any(name in a for a in args):
            print(
                f"tdbench: note: detector {name} left out: it needs the optional extra "
                f"{needs[1]!r} (pip install -e '.[{needs[1]}]')",
                file=sys.stderr,
            )
            left_out.append(f"~detector.{name}")
    return [*args, *left_out]


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> None:
    global _exit_code
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        with hold(out_dir):
            write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
            code = task_module(cfg.task).run(cfg, out_dir)
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


def main() -> None:
    """Entry point of the ``tdbench`` console script."""
    args = normalise(sys.argv[1:])
    hydra_flag = any(a.startswith("-") and a not in MULTIRUN_FLAGS for a in args)
    if not hydra_flag:  # --help, --cfg and friends go straight to Hydra
        args = leave_out_missing_extras(args)
        try:
            check(args)
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
