"""The ``tdbench`` command: Hydra composes the config, tdbench checks it, then runs the task.

Every override is checked before Hydra creates an output folder, so bad input costs one line on
stderr, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib.util
import itertools
import os
import re
import shutil
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

import hydra
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

import detectors
import scenarios
from harness.config import ExecutorSpec, resolve
from harness.run.files import StorageError, write_text
from harness.run.ledger import LEDGER_FILE
from harness.run.lock import HYDRA_ONLY, LOCK_FILE, FolderBusy, check_free, hold
from harness.run.signals import WorkersLost, exit_code, remove_shared_memory, signal_policy
from harness.tasks import check_read, settings_help, task_module, tasks_help
from scenarios import plugins
from scenarios.errors import InputError
from scenarios.params import config_dict

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
ALIASES = {"scenarios": "scenario", "detectors": "detector"}
MULTIRUN_FLAGS = ("-m", "--multirun")
BARE_NULL = re.compile(r"(?<=[\[,])\s*null\s*(?=[,\]])")
EXIT_CODE_FILE = "exit_code"
STORAGE_EXIT = 74  # sysexits' EX_IOERR: the run folder could not be written
WORKERS_LOST_EXIT = 69  # sysexits' EX_UNAVAILABLE: the dask cluster lost its workers
OPEN_MAPS = ("scoring.thresholds",)  # settings whose entries the user names (detector -> threshold)
_exit_code = 0
_new_run_dir: Path | None = None  # the single run's output folder, when this command creates it
_new_root: Path | None = None  # the outermost folder this command creates for it
OmegaConf.register_new_resolver("tdbench_tasks", tasks_help, replace=True)  # for --help


def settings_of_task(task: str, _root_: DictConfig) -> str:
    """``${tdbench_settings:${task}}`` in --help: the settings the task reads, at their composed values."""
    values = {str(key): _root_[key] for key in _root_ if key != "hydra"}
    config = {
        k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v for k, v in values.items()
    }
    return settings_help(task, config)


OmegaConf.register_new_resolver("tdbench_settings", settings_of_task, replace=True)


def groups(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Config groups and their options, as Hydra sees them (call inside an initialised Hydra): the
    primary config folder and every folder on ``hydra.searchpath``."""
    loader = GlobalHydra.instance().config_loader()
    names = [g for g in loader.list_groups("") if g != "hydra"]
    return {name: sorted(loader.get_group_options(name, overrides=list(overrides))) for name in sorted(names)}


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
    group_names = {d.name for d in CONF_DIR.iterdir() if d.is_dir()}
    for arg in args:
        key, sep, value = arg.partition("=")
        prefix = key[: len(key) - len(key.lstrip("+~"))]
        bare = ALIASES.get(key[len(prefix) :], key[len(prefix) :])
        if sep and bare in group_names and value.startswith("["):
            value = BARE_NULL.sub("'null'", value)
        out.append(f"{prefix}{bare}{sep}{value}" if sep else arg)
    return out


def combinations(overrides: list[str], options: dict[str, list[str]]) -> list[list[str]]:
    """Override lists to check: sweeps at their first value, then each swept value in turn."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed: list[str] = []
    sweeps: list[list[str]] = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            sweeps.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            assert o.input_line is not None  # the parser keeps each override's text
            fixed.append(o.input_line)
        check_group_choice(o, options)
    if not sweeps:
        return [fixed]
    first = [values[0] for values in sweeps]
    combos = [fixed + first]
    for i, values in enumerate(sweeps):
        combos.extend(fixed + first[:i] + [v] + first[i + 1 :] for v in values[1:])
    return combos


def check_group_choice(override, options: dict[str, list[str]]) -> None:
    """A group override must name existing options."""
    allowed = options.get(override.key_or_group)
    if allowed is None or override.is_delete():
        return
    values = list(override.sweep_string_iterator()) if override.is_sweep_override() else override.value()
    flat = itertools.chain.from_iterable(
        v if isinstance(v, list) else [v] for v in (values if isinstance(values, list) else [values])
    )
    for value in flat:
        name = str(value).strip("[]")
        for item in filter(None, (s.strip() for s in name.split(","))):
            if item not in allowed:
                raise InputError(
                    override.key_or_group, f"unknown option {item!r}; allowed: {', '.join(allowed)}"
                )


def no_such_setting(key: str, base: DictConfig) -> InputError:
    """The error for a key tdbench does not read, with the settings it does read there."""
    parent, _, leaf = key.rpartition(".")
    if parent in OPEN_MAPS:
        return InputError(key, f"{parent} is an open map: add an entry with +{key}=...")
    node = OmegaConf.select(base, parent) if parent else base
    known = sorted(str(k) for k in node) if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(leaf, known, n=1)
    hint = f"did you mean {parent + '.' if parent else ''}{close[0]}? " if close else ""
    listing = f"settings here: {', '.join(known)}" if known else f"{parent or key} takes no sub-settings"
    return InputError(key, f"no such setting; {hint}{listing}")


def composition_error(error: Exception, base: DictConfig | None = None) -> InputError:
    text = str(error).strip()
    if "hydra/launcher/" in text:
        return InputError(
            "hydra/launcher", f"{text.splitlines()[0]} (the presets need: pip install -e '.[launchers]')"
        )
    if "Could not override" in text or "Key '" in text:
        key = text.split("'")[1] if "'" in text else "override"
        return no_such_setting(key, base if base is not None else OmegaConf.create())
    if "Could not append to config" in text or "Multiple values" in text:
        return InputError("override", text.splitlines()[0])
    return InputError("config", text.splitlines()[0] if text else type(error).__name__)


def check_keys(cfg: DictConfig, base: DictConfig, options: dict[str, list[str]]) -> None:
    """Every setting is one tdbench reads: a key of the default config. The config groups' own
    validation names their unknown keys, and open maps take any entry."""

    def walk(node: DictConfig, known: Any, path: str) -> None:
        for key in node:
            where = f"{path}.{key!s}" if path else str(key)
            if not path and key in options or path in OPEN_MAPS:
                continue
            if not isinstance(known, DictConfig) or key not in known:
                raise no_such_setting(where, base)
            child = node._get_node(key)
            if isinstance(child, DictConfig):
                walk(child, known._get_node(key), where)

    walk(cfg, base, "")


def resolved(cfg: DictConfig) -> None:
    """Resolve every interpolation now, so a broken one is one line naming its setting."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or "config"
        raise InputError(str(key), f"cannot resolve: {str(error).splitlines()[0]}") from None


def hydra_args(argv: list[str]) -> argparse.Namespace:
    """The command line as Hydra reads it; a malformed one is an InputError."""
    parser = get_args_parser()

    def fail(message: str) -> NoReturn:
        raise InputError("command line", message)

    parser.error = fail  # type: ignore[method-assign]  # argparse's documented hook, on this parser only
    return parser.parse_args(argv)


def pinned_run_dir(args: list[str], run_dir: str) -> list[str]:
    """The command line with the run folder the checks saw: the default's ``${now:}`` would move on
    while the checks run, and a refused command could not remove the folder Hydra made."""
    if any(o.lstrip("+~").split("=", 1)[0] == "hydra.run.dir" for o in hydra_args(args).overrides):
        return args
    return [*args, f"hydra.run.dir={run_dir}"]


def only_informs(args: argparse.Namespace) -> bool:
    """--help, --cfg, --info and friends print and run nothing."""
    if args.shell_completion and not any(
        o.split("=")[0] in ("install", "uninstall", "query") for o in args.overrides
    ):
        raise InputError(
            "--shell-completion", "needs install=SHELL, uninstall=SHELL or query=SHELL, e.g. install=bash"
        )
    return bool(args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)


def config_source(args: argparse.Namespace) -> tuple[Path, str, list[str]]:
    """Primary config folder, config name and overrides, honouring --config-path, --config-name and
    --config-dir (a folder added to the search path) as Hydra does."""
    primary = CONF_DIR
    if args.config_path:
        path = Path(args.config_path)
        primary = path if path.is_absolute() else (Path(__file__).resolve().parent / path).resolve()
    overrides = list(args.overrides)
    if args.config_dir:
        if not Path(args.config_dir).is_dir():
            raise InputError("--config-dir", f"no such config folder: {args.config_dir}")
        extra = f"file://{Path(args.config_dir).resolve()}"
        parsed = OverridesParser.create().parse_overrides(overrides)
        given = [o for o in parsed if o.get_key_element() == "hydra.searchpath"]
        paths = [extra, *(listed(given[-1]) if given else [])]
        overrides = [o.input_line for o in parsed if o.get_key_element() != "hydra.searchpath"]
        overrides.append(f"hydra.searchpath=[{','.join(paths)}]")
    return primary, args.config_name or "config", overrides


def compose_checked(args: list[str]) -> list[DictConfig]:
    """The composed config of every combination the command line asks for, each checked for
    unknown keys and broken interpolations (each task's own validation aside)."""
    return compose_run(args)[0]


def compose_run(args: list[str]) -> tuple[list[DictConfig], str]:
    """``compose_checked``, and ``hydra.run.dir`` of the first combination (where Hydra puts a
    single run), from the same composition."""
    primary, name, overrides = config_source(hydra_args(args))
    store_plugin_configs()
    searchpath = [o for o in overrides if o.startswith("hydra.searchpath=")]
    check_search_path(searchpath)
    composed: list[DictConfig] = []
    run_dir = ""
    try:
        with initialize_config_dir(config_dir=str(primary), version_base="1.3"):
            options = groups(overrides)
            base = compose(name, overrides=searchpath)
            defaults = config_dict(base)
            try:
                combos = combinations(overrides, options)
            except HydraException as error:
                raise composition_error(error, base) from None
            for combo in combos:
                try:
                    cfg = compose(name, overrides=combo, return_hydra_config=not composed)
                except (HydraException, OmegaConfBaseException) as error:
                    raise composition_error(error, base) from None
                if not composed:  # as compose() without return_hydra_config, once the folder is read
                    run_dir = str(cfg.hydra.run.dir)
                    with open_dict(cfg):
                        del cfg["hydra"]
                resolved(cfg)
                check_keys(cfg, base, options)
                task = cfg.get("task", "study")
                task_module(task)  # an unknown task is named before its settings are
                check_read(task, config_dict(cfg), defaults)
                composed.append(cfg)
    except (HydraException, OmegaConfBaseException) as error:
        raise composition_error(error) from None
    except yaml.MarkedYAMLError as error:
        raise yaml_error(error) from None
    return composed, run_dir


def yaml_error(error: yaml.MarkedYAMLError) -> InputError:
    """A config file that is not YAML: its path, the parser's reason and where."""
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    reason = error.problem or error.context
    return InputError(mark.name if mark else "config", f"not valid YAML: {reason}{where}")


def listed(override: Override) -> list[Any]:
    """An override's value as a list: a single value is a list of one, no value an empty list."""
    value = override.value()
    return value if isinstance(value, list) else [] if value is None else [value]


def check_search_path(searchpath: list[str]) -> None:
    """Every ``file://`` folder on ``hydra.searchpath`` (and ``--config-dir``) exists."""
    for override in OverridesParser.create().parse_overrides(searchpath):
        for entry in listed(override):
            folder = str(entry).removeprefix("file://")
            if str(entry).startswith("file://") and not Path(folder).is_dir():
                raise InputError("hydra.searchpath", f"no such config folder: {folder}")


def check(args: list[str], composed: tuple[list[DictConfig], str] | None = None) -> None:
    """Validate the config of every combination the command line asks for (``composed``: their
    ``compose_run``, when the caller has it), and that the run folder is free."""
    configs, run_dir = composed if composed is not None else compose_run(args)
    for cfg in configs:
        task_module(cfg.get("task", "study")).validate(cfg)
    if not hydra_args(args).multirun:  # before Hydra writes its files into the run folder
        check_no_sweep(hydra_args(args).overrides)
        check_run_folder(run_dir)
        check_free(run_dir)


def check_no_sweep(overrides: list[str]) -> None:
    """Without --multirun, ``key=a,b`` is a list written without its brackets."""
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            key = override.get_key_element()
            values = ",".join(override.sweep_string_iterator())
            raise InputError(
                key, f"use {key}=[{values}] for a list; to run one study per value, add --multirun"
            )


def check_run_folder(run_dir: str) -> None:
    """An existing output folder must be empty or a tdbench run folder (a ledger, a lock, Hydra's
    .hydra/): tdbench never writes its files among someone else's."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as error:
        raise StorageError(folder, error.strerror or str(error)) from None
    if names and not {LEDGER_FILE, LOCK_FILE, ".hydra"} & set(names):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise InputError(
            "hydra.run.dir",
            f"{folder} holds files that are not a tdbench run ({shown}); choose a new or empty folder",
        )


def run_task(cfg: DictConfig, out_dir: Path) -> int:
    """Hold the output folder, save the resolved config into it and run its task there; the exit
    code. Raises InputError, FolderBusy (another study holds the folder) and StorageError."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with hold(out_dir):
        write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        return task_module(cfg.task).run(cfg, out_dir)


def leave_out_missing_extras(args: list[str], cfg: DictConfig | None = None) -> list[str]:
    """The command line, plus a deletion of each composed detector whose optional extra is missing
    (with a note on stderr) unless the command line names it; a named one fails validation, naming
    the extra. ``cfg``: the command line's (first) composed config, when the caller has it."""
    try:
        cfg = cfg if cfg is not None else compose_checked(args)[0]
        chosen = cfg.get("detector")
        specs = config_dict(chosen, resolve=False) if isinstance(chosen, DictConfig) else {}
    except InputError:
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


def note_in_driver(cfg: DictConfig) -> None:
    """A local executor of one worker runs the jobs in this process, one at a time: say so."""
    executor = cfg.get("executor")
    if not executor or executor.get("name") != "local":
        return
    if ExecutorSpec(**config_dict(executor)).workers == 1:
        print(
            "tdbench: note: executor=local with one worker runs every job in this process, one at a time "
            "(as executor=serial); executor.n_jobs=2 or more starts worker processes",
            file=sys.stderr,
        )


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_entry(cfg: DictConfig) -> None:
    global _exit_code
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    busy = False  # the folder is another study's: never discarded
    try:
        code = run_task(cfg, out_dir)
    except (InputError, FolderBusy) as error:
        print(error_line(error), file=sys.stderr)
        code, busy = 2, isinstance(error, FolderBusy)
    except StorageError as error:
        print(error_line(error), file=sys.stderr)
        code = STORAGE_EXIT
    except WorkersLost as error:
        print(error_line(error), file=sys.stderr)
        code = WORKERS_LOST_EXIT
    except OSError as error:  # a read-only folder, a full disk
        print(os_error_line(error), file=sys.stderr)
        code = STORAGE_EXIT
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        (out_dir / EXIT_CODE_FILE).write_text(f"{code}\n")  # read back by SweepExitCode
    elif code not in (0, 1) and not busy and out_dir.resolve() == _new_run_dir:
        discard_unused(out_dir)
    _exit_code = max(_exit_code, code)


def discard_unused(out_dir: Path) -> None:
    """Remove the output folder this command created, when the task refused before writing into it
    (it holds only Hydra's files, the saved config and the lock): a refused command leaves nothing."""
    with contextlib.suppress(OSError):
        if {p.name for p in out_dir.iterdir()} <= HYDRA_ONLY:
            shutil.rmtree(out_dir)
            for folder in out_dir.parents:  # the folders created for it (results/runs/<date>/), if empty
                if _new_root is None or not folder.is_relative_to(_new_root):
                    break
                folder.rmdir()


def error_line(error: Exception | str) -> str:
    """The one stderr line of an error: a message that spans lines (SQLite's, a parser's) joined."""
    return "tdbench: error: " + " ".join(str(error).split())


def os_error_line(error: OSError) -> str:
    """One line: the path and the system's reason."""
    where = f"{error.filename}: " if error.filename else ""
    return error_line(f"{where}{error.strerror or error}")


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
    """Entry point of the ``tdbench`` console script. A stopping signal (harness.run.signals) at any
    point is one line and exit code 128 + its number."""
    if "--version" in sys.argv[1:]:  # before Hydra, whose own --version names Hydra
        print(f"tdbench {version('tdbench')}")
        sys.exit(0)
    signal_policy()
    try:
        run_command()
    except KeyboardInterrupt as stop:  # harness.run.study.Interrupted says how much is stored
        remove_shared_memory()
        print(str(stop) or "interrupted; run the same command again to finish", file=sys.stderr)
        sys.exit(exit_code(stop))


def run_command() -> None:
    global _exit_code, _new_run_dir, _new_root
    _exit_code, _new_run_dir, _new_root = 0, None, None
    args = normalise(sys.argv[1:])
    try:
        with warnings.catch_warnings(record=True) as caught:  # shown only when the checks pass
            warnings.simplefilter("default")
            store_plugin_configs()
            if not only_informs(hydra_args(args)):
                composed = compose_run(args)
                extended = leave_out_missing_extras(args, composed[0][0])
                if extended != args:
                    args, composed = extended, compose_run(extended)
                check(args, composed)
                note_in_driver(composed[0][0])
                planned = Path(composed[1]).resolve()
                if not hydra_args(args).multirun:
                    args = pinned_run_dir(args, composed[1])
                    if not planned.exists():
                        _new_run_dir = planned
                        _new_root = next(p for p in reversed([planned, *planned.parents]) if not p.exists())
    except (InputError, FolderBusy) as error:
        print(error_line(error), file=sys.stderr)
        sys.exit(2)
    except StorageError as error:
        print(error_line(error), file=sys.stderr)
        sys.exit(STORAGE_EXIT)
    for warning in caught:
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    sys.argv = [sys.argv[0], *args]
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # Hydra's own writes: their OSError reaches us
    try:
        hydra_entry()
    except OSError as error:  # Hydra could not create the output folder or write .hydra/ into it
        print(os_error_line(error), file=sys.stderr)
        if _new_run_dir is not None and _new_run_dir.is_dir():
            discard_unused(_new_run_dir)
        sys.exit(STORAGE_EXIT)
    sys.exit(_exit_code)
