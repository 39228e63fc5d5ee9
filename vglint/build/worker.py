"""The probe's child process: builds users' models and measures a short backward pass on them
(or, for a job with `"mode": "graph"`, records one forward pass for the graph front-end).

Run as `python -m vglint.build.worker`: one JSON job per line on stdin, one JSON result per line on
the original stdout (the user's prints go to stderr). The first line it writes is a ready line
(`{"ready": true, "pid": ..., "torch": "2.13.0"}`), once torch is imported. The memory cap comes
from `VGLINT_MEMORY_BYTES` and is set on this process before torch loads.
See `vglint.build.pool` for the parent side and the job and result keys.
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import json
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable
from typing import Any

from vglint.build.defonly import FAILURES_ATTRIBUTE, load_definitions
from vglint.build.inputs import InputError, config_key, input_line, synthesise

#: `module:function` of the measurement, overridable for tests.
MEASURE_ENV = "VGLINT_PROBE_MEASURE"
DEFAULT_MEASURE = "vglint.probing.measure:measure"
MEMORY_ENV = "VGLINT_MEMORY_BYTES"
#: Compute threads: each reserves address space, which the memory cap counts; a probe is small.
MAX_THREADS = 4
_MEMORY_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory", "std::bad_alloc")


class BuildFailure(Exception):
    """A job that cannot go on; `kind` and the message become the result."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


def _inference_mode_as_no_grad(torch: Any) -> None:
    """`torch.inference_mode()` regions become `torch.no_grad()` ones. A forward with an inference
    region raises on backward ("Inference tensors cannot be saved for backward"), which would
    hide the very cut VG402 reports; under no_grad the layers inside simply get no gradient."""

    class InferenceModeAsNoGrad(torch.no_grad):
        def __init__(self, mode: bool = True) -> None:
            super().__init__()
            self.enabled = mode

        def __enter__(self) -> None:
            if self.enabled:
                super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            if self.enabled:
                super().__exit__(*exc)

    torch.inference_mode = InferenceModeAsNoGrad


#: The hosts the current job's code tried to reach; the worker refuses them (see `_refuse_network`).
_network_attempts: list[str] = []
_LOCAL_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1", b"localhost"})


def _refuse_network() -> None:
    """The worker runs offline: a builder's default arguments may fetch weights
    (`fasterrcnn_resnet50_fpn()` downloads its ImageNet backbone, 100 MB), and vglint only needs
    the architecture. An audit hook refuses every name lookup and connection to another machine
    before it happens; the build then fails with a message that names the host."""

    def hook(event: str, args: tuple) -> None:
        if event == "socket.getaddrinfo":
            host = args[0]
        elif event == "socket.connect" and isinstance(args[1], tuple):  # not a Unix socket's path
            host = args[1][0]
        else:
            return
        if host in _LOCAL_HOSTS:
            return
        where = host.decode() if isinstance(host, bytes) else str(host)
        _network_attempts.append(where)
        raise ConnectionRefusedError(f"vglint's builder is offline (refused {where})")

    sys.addaudithook(hook)


def main() -> None:
    # run as `python -m`, this module is `__main__`: the graph job's `from vglint.build.worker import
    # BuildFailure` must get this module's class, or run_job would not catch it
    sys.modules.setdefault("vglint.build.worker", sys.modules[__name__])
    protocol_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    # User code prints, reads stdin and may write to fd 1 from C: none of it may reach the protocol.
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - for the life of the process
    faulthandler.enable(file=sys.stderr)
    _apply_memory_cap()
    _refuse_network()

    torch_error = _import_torch()
    ready = {"ready": True, "pid": os.getpid()}
    if torch_error:
        ready.update(torch_error)
    else:
        import torch

        ready["torch"] = torch.__version__
        _inference_mode_as_no_grad(torch)
    _send(protocol_out, ready)
    for line in protocol_in:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError as error:
            _send(protocol_out, {"id": None, "ok": False, "kind": "internal", "reason": f"bad job line: {error}"})
            continue
        if torch_error:
            result = {"id": job.get("id"), "ok": False, **torch_error}
        else:
            result = run_job(job)
        result["pid"] = os.getpid()
        _send(protocol_out, result)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Build, feed and measure one job's model; every outcome is a result dict, never an exception."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    _network_attempts.clear()
    try:
        if job.get("mode") == "graph":
            from vglint.graph.build import record_job

            return {"id": job.get("id"), "ok": True, **_jsonable(record_job(job))}
        return {"id": job.get("id"), "ok": True, **_build_and_measure(job)}
    except BuildFailure as failure:
        return {"id": job.get("id"), "ok": False, "kind": failure.kind, "reason": str(failure)}
    except BaseException as error:  # a user's SystemExit must not end the worker
        if isinstance(error, KeyboardInterrupt):
            raise
        kind = "memory" if _is_memory_error(error) else "internal"
        return {"id": job.get("id"), "ok": False, "kind": kind, "reason": _describe(error)}
    finally:
        sys.path[:] = saved_path
        _forget_modules(job, saved_modules)
        gc.collect()


def _build_and_measure(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    model, built = build(job)
    try:
        inputs, time_dim = synthesise(job, model)
    except InputError as error:
        raise BuildFailure("input", str(error)) from None
    return {"measurement": _jsonable(_measure_fitting(job, model, inputs, time_dim)), "built": built}


def _measure_fitting(job: dict[str, Any], model: Any, inputs: list[Any], time_dim: int | None) -> Any:
    """The measurement, on an input that fits the model (see `run_fitting`)."""
    from vglint.probing.measure import pick_device  # torch is loaded by now, under the memory cap

    measure = _measure_function()

    def measured(inputs: list[Any], time_dim: int | None) -> Any:
        return measure(model, inputs, device=pick_device(job.get("device")), steps=job.get("steps") or 0,
                       time_dim=time_dim)  # fmt: skip

    return run_fitting(job, model, inputs, time_dim, measured, "the forward or backward pass")


def run_fitting(job: dict[str, Any], model: Any, inputs: list[Any], time_dim: int | None,
                run: Callable[[list[Any], int | None], Any], doing: str) -> Any:  # fmt: skip
    """`run(inputs, time_dim)`, on a synthesised input that fits the model. The input is a guess:
    when the model raises on it, the input the built model's own first layer takes is tried (the
    source may name a later layer first: torchvision's ConvNeXt feeds its stem from a list), and an
    image at the other common sizes (LeNet's 28x28, a ViT that asserts 224, Inception's 299). When
    none fits, the first error is reported; `doing` names what raised. A configured input is run once."""
    first: tuple[Exception, list[Any]] | None = None
    for inputs, time_dim in _inputs_to_try(job, model, inputs, time_dim):
        try:
            return run(inputs, time_dim)
        except Exception as error:  # noqa: BLE001 - anything the user's forward raises
            if _is_memory_error(error):
                raise BuildFailure("memory", _describe(error)) from None
            first = first or (error, inputs)
    error, inputs = first
    shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
    given = "the configured input" if job.get("input") else "a synthesised input"
    raise BuildFailure(
        "forward",
        f"{doing} with {given} of shape {shapes} raised {_describe(error)}; "
        f"if the model takes another input, {input_line(job)}",
    ) from None


#: Image sizes tried, after the configured one, when a synthesised image does not fit the model.
_OTHER_IMAGE_SIZES = (28, 64, 224, 299)
_SPATIAL = ("Conv1d", "Conv2d", "Conv3d")


def _inputs_to_try(job: dict[str, Any], model: Any, inputs: list[Any], time_dim: int | None):
    """The given inputs, then (for a synthesised one) those of the source's hint and of the built
    model's first layer, each image at every size; made one at a time, only when needed."""
    yield inputs, time_dim
    if job.get("input"):
        return
    from vglint.build.inputs import InputError, hint_from_model

    def signature(tensors: list[Any]) -> list[tuple]:
        return [(tuple(t.shape), t.dtype) for t in tensors]

    hints: list[dict[str, Any]] = []
    for hint in (job.get("input_hint"), hint_from_model(model)):
        if hint and hint not in hints:
            hints.append(hint)
    tried = [signature(inputs)]
    configured = job.get("spatial") or 32
    for hint in hints:
        sizes = [configured, *_OTHER_IMAGE_SIZES] if hint.get("first") in _SPATIAL else [configured]
        for size in dict.fromkeys(sizes):
            try:
                candidate, candidate_time = synthesise({**job, "input_hint": hint, "spatial": size}, model)
            except InputError:
                break
            if signature(candidate) not in tried:
                tried.append(signature(candidate))
                yield candidate, candidate_time


_UNDEFINED = re.compile(r"name '(\w+)' is not defined")
_MISSING_CONFIG = re.compile(r"argument.*'\w*config'")


def _root_cause(failures: dict[str, str], reason: str) -> str:
    """Where a chain of failed definitions began: `class LitNet(L.LightningModule)` failed because
    `import lightning as L` did. The user needs the first link (No module named 'lightning')."""
    seen: set[str] = set()
    while (match := _UNDEFINED.search(reason)) and match[1] in failures and match[1] not in seen:
        seen.add(match[1])
        reason = failures[match[1]]
    return reason


def _with_root(reason: str, root: str) -> str:
    return reason if root == reason else f"{reason}, because {root}"


def build(job: dict[str, Any]) -> tuple[Any, str]:
    """The job's model and how it was built (`Net(784, 10)`); raises `BuildFailure`."""
    import torch

    target = job.get("target") or {}
    kind = target.get("kind") or "auto"
    name = target.get("name") or ""
    args = [_made(value) for value in job.get("args") or []]
    kwargs = {key: _made(value) for key, value in (job.get("kwargs") or {}).items()}
    module = _load(job, name, kind)
    failures: dict[str, str] = getattr(module, FAILURES_ATTRIBUTE, {})

    obj: Any = module
    head = name.split(".")[0]
    if head in failures:  # checked first: a failed `model = model.RNNModel(...)` leaves the module `model`
        cause = _root_cause(failures, failures[head])
        raise BuildFailure(_failure_kind(cause), f"{head} could not be defined: {_with_root(failures[head], cause)}")
    for part in name.split("."):
        if not hasattr(obj, part):
            where = job.get("module") or job.get("file")
            raise BuildFailure(
                "not-found",
                f"{name} is not defined in {where} (the probe runs only its imports, definitions and the "
                'assignments they need; a model made in a loop, a with block or under if __name__ == "__main__" '
                "is not seen)",
            )
        obj = getattr(obj, part)

    call = kind in ("class", "factory") or (kind == "auto" and callable(obj) and not isinstance(obj, torch.nn.Module))
    if call:
        built = f"{name}({_arguments(args, kwargs)})"
        try:
            obj = obj(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - anything the user's __init__ raises
            raise _construction_failure(error, job, failures) from None
    else:
        built = name
    if not isinstance(obj, torch.nn.Module):
        raise BuildFailure("not-a-module", f"{built} is a {type(obj).__name__}, not a torch.nn.Module")
    return obj, built


def _made(value: Any) -> Any:
    """An argument as the configuration gives it; a table with a `factory` ("module:name") is
    that callable's result, called with the table's other keys: `config = {factory =
    "transformers:BertConfig", num_hidden_layers = 24}` is `BertConfig(num_hidden_layers=24)`."""
    if isinstance(value, list):
        return [_made(item) for item in value]
    if not isinstance(value, dict):
        return value
    made = {key: _made(item) for key, item in value.items() if key != "factory"}
    if "factory" not in value:
        return made
    module_name, _, attribute = str(value["factory"]).partition(":")
    try:
        factory = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else []:
            factory = getattr(factory, part)
        return factory(**made)
    except Exception as error:  # noqa: BLE001 - a factory the configuration names may fail any way
        raise BuildFailure("raise", f"the configured factory {value['factory']} raised {_describe(error)}") from None


def _load(job: dict[str, Any], name: str, kind: str) -> Any:
    root = job.get("project_root")
    installed = _installed_module(job.get("file"))
    if installed is not None and not job.get("module"):
        # a file of an installed package (torchvision/models/vgg.py) is imported as the package
        # imports it: run again by a definition-only import, its `@register_model` decorators would
        # register every name a second time and fail, and an installed library holds no training script
        job = {**job, "module": installed, "project_root": None}
        root = None
    if job.get("module"):
        if root:
            sys.path.insert(0, os.path.abspath(root))
        try:
            return importlib.import_module(job["module"])
        except BaseException as error:  # a module that exits on import failed to import
            if isinstance(error, KeyboardInterrupt):
                raise
            raise BuildFailure("import", f"importing {job['module']} raised {_describe(error)}") from None
    needed = [name.split(".")[0]] if kind in ("variable", "auto") else []
    try:
        line = job.get("line")
        return load_definitions(job["file"], root, needed, line, None if kind == "variable" else name.split(".")[0])
    except (SyntaxError, OSError, UnicodeDecodeError, ValueError) as error:
        raise BuildFailure("import", f"reading {job.get('file')} failed: {_describe(error)}") from None


def _installed_module(file: str | None) -> str | None:
    """The dotted name of a `.py` file inside the installed packages (site-packages), else None."""
    if not file:
        return None
    path = os.path.abspath(file)
    for library in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}, key=len, reverse=True):
        library = os.path.abspath(library) + os.sep
        if path.startswith(library) and path.endswith(".py"):
            parts = path[len(library) : -3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None
    return None


def _construction_failure(error: Exception, job: dict[str, Any], failures: dict[str, str]) -> BuildFailure:
    message = str(error)
    if _is_memory_error(error):
        return BuildFailure("memory", _describe(error))
    if _network_attempts:
        return BuildFailure(
            "needs-arguments",
            f"building the model tried to download from {_network_attempts[0]} ({_describe(error)}); vglint builds "
            "models offline and needs no weights: give the arguments that skip the download (weights=None, "
            f'weights_backbone=None, pretrained=False) under [tool.vglint.models."{config_key(job)}"] in pyproject.toml',
        )
    if isinstance(error, TypeError) and "missing" in message and "argument" in message:
        # a config object cannot be written in TOML: a table with a factory builds it (transformers' models)
        config = ' (a config object as config = { factory = "package.module:ConfigClass" })'
        return BuildFailure(
            "needs-arguments",
            f"{_describe(error)}; give them with args = [...] or kwargs = {{...}}"
            f'{config if _MISSING_CONFIG.search(message) else ""} '
            f'under [tool.vglint.models."{config_key(job)}"] in pyproject.toml',
        )
    if isinstance(error, NameError) and getattr(error, "name", None) in failures:
        cause = _root_cause(failures, failures[error.name])
        said = _with_root(failures[error.name], cause)
        return BuildFailure(_failure_kind(cause), f"{_describe(error)} ({error.name} could not be defined: {said})")
    return BuildFailure("raise", f"building the model raised {_describe(error)}{_user_frame(error)}")


def _failure_kind(cause: str) -> str:
    return "import" if "ImportError" in cause or "ModuleNotFoundError" in cause else "raise"


def _user_frame(error: BaseException) -> str:
    """` at net.py:12` for the innermost frame of the user's code."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_library_roots())]
    frames = [f for f in frames if os.path.abspath(f.filename) != os.path.abspath(__file__)]
    if not frames:
        return ""
    return f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


def _measure_function():
    spec = os.environ.get(MEASURE_ENV) or DEFAULT_MEASURE
    module_name, _, function_name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function_name or "measure")
    except (ImportError, AttributeError) as error:
        raise BuildFailure("internal", f"the measurement {spec} cannot be loaded: {_describe(error)}") from None


def _import_torch() -> dict[str, str] | None:
    try:
        import torch
    except BaseException as error:  # reported on every job instead
        if isinstance(error, KeyboardInterrupt):
            raise
        kind = "memory" if _is_memory_error(error) else "import"
        return {"kind": kind, "reason": f"torch cannot be imported: {_describe(error)}"}
    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, min(torch.get_num_threads(), MAX_THREADS)))
    return None


def _apply_memory_cap() -> None:
    """RLIMIT_AS (soft and hard, so user code cannot lift it) from `VGLINT_MEMORY_BYTES`; no core files."""
    try:
        import resource
    except ImportError:
        return  # Windows: the parent still polls the resident size where it can.
    limits = [(resource.RLIMIT_CORE, 0)]  # a segfaulting model must not leave a core file behind
    if os.environ.get(MEMORY_ENV):
        limits.append((resource.RLIMIT_AS, int(os.environ[MEMORY_ENV])))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass  # a platform that refuses it (macOS and RLIMIT_AS): the parent's polling remains


def _is_memory_error(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return any(word in text for word in _MEMORY_WORDS)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _arguments(args: list[Any], kwargs: dict[str, Any]) -> str:
    return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({paths["stdlib"], paths["purelib"], paths["platlib"], sys.prefix, sys.base_prefix})


def _forget_modules(job: dict[str, Any], before: set[str]) -> None:
    """Drop the modules this job imported from the user's folders, so the next job imports its own."""
    folders = [os.path.dirname(os.path.abspath(job["file"]))] if job.get("file") else []
    if job.get("project_root"):
        folders.append(os.path.abspath(job["project_root"]))
    folders = tuple(f + os.sep for f in folders)
    libraries = _library_roots()
    for name in set(sys.modules) - before:
        file = getattr(sys.modules.get(name), "__file__", None) or ""
        if name.startswith("vglint_probe_") or (file.startswith(folders) and not file.startswith(libraries)):
            sys.modules.pop(name, None)


def _send(out, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, default=str) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
