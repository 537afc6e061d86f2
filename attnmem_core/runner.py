"""Execute the replication notebooks with papermill into the book's build tree.

    python -m attnmem_core.runner --profile cpu          # what `make book` runs
    python -m attnmem_core.runner --scheduler tcp://head-node:8786   # the trainings on a Dask cluster

A notebook is executed again only when something that could change its output changed:
its own content, the parameters it gets, the core library's source, or the pinned data
sources, or when something it wrote is gone or changed. The key of all four is stored
beside the executed notebook once the run succeeds, with the sha256 of the executed copy
and of every file the run wrote under its `results_dir` (its results JSON, figures,
trained models); a matching key with all those files intact means the last run still
stands and the notebook is skipped. Two runners on one folder do not collide: each
executes into a scratch file of its own, and an executed copy that another runner replaced
no longer matches the key beside it.

A failing notebook stops the run: the failing cell and its traceback go to the console,
no executed copy or key is written, and the exit status is non-zero.

In the executed copy the parameter cells are hidden (the book shows the values through
each chapter's run card instead) and stream output is coalesced, so a progress bar
leaves one line rather than one per refresh.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat
import papermill as pm

from attnmem_core.atomic import atomic_write
from attnmem_core.config import SCHEDULER_ENV, check_device, check_profile, check_scheduler
from attnmem_core.model_cache import core_digest
from attnmem_core.parallel import check_workers, connect

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "replications"
EXECUTED = REPO / "book" / "executed"
CORE = REPO / "attnmem_core"
SOURCES = REPO / "data" / "sources.json"
HIDDEN_CELL_TAGS = ("parameters", "injected-parameters")


class NotebookFailed(RuntimeError):
    pass


def content_key(notebook: Path, params: dict, core: Path = CORE, sources: Path = SOURCES) -> str:
    digest = hashlib.sha256()
    digest.update(notebook.read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    digest.update(sources.read_bytes() if sources.exists() else b"")
    digest.update(core_digest(core).encode())
    return digest.hexdigest()


def hide_parameter_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in HIDDEN_CELL_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path | None) -> dict[Path, tuple[int, int]]:
    """(modification time, size) of every file under `folder`, scratch files (named .*) left out."""
    if folder is None or not folder.is_dir():
        return {}
    return {
        path: (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def _still_stands(stamp: Path, key: str) -> bool:
    """The stamp holds `key`, and every file it lists is there with the sha256 it lists."""
    try:
        record = json.loads(stamp.read_text())
        return record["key"] == key and all(
            Path(path).is_file() and _sha256(Path(path)) == digest for path, digest in record["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # none yet, or one in an older format
        return False


def run_notebook(
    notebook: Path, out_dir: Path, params: dict, *, force: bool = False, core: Path = CORE, cwd: Path = REPO
) -> str:
    """Execute one notebook unless its key is unchanged and its outputs intact; return 'executed' or 'cached'."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, stamp = out_dir / notebook.name, out_dir / f"{notebook.stem}.key"
    key = content_key(notebook, params, core)
    if not force and _still_stands(stamp, key):
        return "cached"
    stamp.unlink(missing_ok=True)
    results = Path(cwd) / params["results_dir"] if "results_dir" in params else None
    before = _files(results)
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=f".{notebook.stem}.", suffix=".running.ipynb")
    os.close(handle)
    running = Path(name)
    try:
        pm.execute_notebook(
            notebook,
            running,
            parameters=params,
            cwd=str(cwd),
            kernel_name="python3",
            progress_bar=False,
            coalesce_streams=True,
        )
    except BaseException as error:
        running.unlink(missing_ok=True)
        if isinstance(error, pm.PapermillExecutionError):
            raise NotebookFailed(_describe_failure(notebook, error)) from None
        raise
    hide_parameter_cells(running)
    files = {str(executed.resolve()): _sha256(running)}
    os.replace(running, executed)
    files.update(
        {str(path.resolve()): _sha256(path) for path, state in _files(results).items() if before.get(path) != state}
    )
    with atomic_write(stamp, "w") as f:
        json.dump({"key": key, "files": files}, f, indent=1)
    return "executed"


def _describe_failure(notebook: Path, error: pm.PapermillExecutionError) -> str:
    rule = "-" * 78
    return (
        f"{notebook.name} failed in cell {error.cell_index} (execution count {error.exec_count}):\n"
        f"{rule}\n{error.source}\n{rule}\n" + "\n".join(error.traceback) + f"\n{error.ename}: {error.evalue}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", default=None, help="e.g. '0,1,2'; the profile's own seeds when left out")
    parser.add_argument("--only", nargs="*", help="notebook names or prefixes, e.g. 06")
    parser.add_argument("--out", type=Path, default=EXECUTED)
    parser.add_argument("--data-dir", type=Path, default=REPO / "data" / "cache")
    parser.add_argument("--results-dir", type=Path, default=REPO / "results")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument(
        "--scheduler",
        default=os.environ.get(SCHEDULER_ENV),
        help=f"a Dask scheduler's address for the trainings (${SCHEDULER_ENV}, else a local cluster)",
    )
    args = parser.parse_args(argv)
    try:
        check_profile(args.profile)
        check_device(args.device)
        scheduler = check_scheduler(args.scheduler)
        if scheduler:  # reached and its workers checked before any notebook; the notebooks find it in the environment
            with connect(scheduler) as client:
                check_workers(client)
            os.environ[SCHEDULER_ENV] = scheduler
    except (ValueError, ConnectionError, RuntimeError) as error:
        parser.error(str(error))
    params = {
        "profile": args.profile,
        "device": args.device,
        "data_dir": str(args.data_dir.resolve()),
        "results_dir": str(args.results_dir.resolve()),
    }
    if args.seeds is not None:
        params["seeds"] = args.seeds
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) for o in args.only)]
    for notebook in notebooks:
        print(f"{notebook.name} [{args.profile}] ...", end=" ", flush=True)
        try:
            print(run_notebook(notebook, args.out, params, force=args.force), flush=True)
        except NotebookFailed as failure:
            print("FAILED", flush=True)
            print(failure, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
