"""Execute the replication notebooks with papermill into the book's build tree.

    python -m attnmem_core.runner --profile cpu          # what `make book` runs
    python -m attnmem_core.runner --scheduler tcp://head-node:8786   # the trainings on a Dask cluster

A notebook is executed again only when something that could change its output changed:
its own content, the parameters it gets, the core library's source, or the pinned data
sources. The key of all four is stored beside the executed notebook once the run
succeeds; a matching key means the last run still stands and the notebook is skipped.

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
from pathlib import Path

import nbformat
import papermill as pm

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


def run_notebook(notebook: Path, out_dir: Path, params: dict, *, force: bool = False,
                 core: Path = CORE, cwd: Path = REPO) -> str:
    """Execute one notebook unless its key is unchanged; return 'executed' or 'cached'."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executed, stamp = out_dir / notebook.name, out_dir / f"{notebook.stem}.key"
    key = content_key(notebook, params, core)
    if not force and executed.exists() and stamp.exists() and stamp.read_text() == key:
        return "cached"
    stamp.unlink(missing_ok=True)
    running = out_dir / f".{notebook.stem}.running.ipynb"
    try:
        pm.execute_notebook(notebook, running, parameters=params, cwd=str(cwd), kernel_name="python3",
                            progress_bar=False, coalesce_streams=True)
    except BaseException as error:
        running.unlink(missing_ok=True)
        if isinstance(error, pm.PapermillExecutionError):
            raise NotebookFailed(_describe_failure(notebook, error)) from None
        raise
    hide_parameter_cells(running)
    os.replace(running, executed)
    stamp.write_text(key)
    return "executed"


def _describe_failure(notebook: Path, error: pm.PapermillExecutionError) -> str:
    rule = "-" * 78
    return (f"{notebook.name} failed in cell {error.cell_index} (execution count {error.exec_count}):\n"
            f"{rule}\n{error.source}\n{rule}\n" + "\n".join(error.traceback) + f"\n{error.ename}: {error.evalue}")


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
    parser.add_argument("--scheduler", default=os.environ.get(SCHEDULER_ENV),
                        help=f"a Dask scheduler's address for the trainings (${SCHEDULER_ENV}, else a local cluster)")
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
    params = {"profile": args.profile, "device": args.device, "data_dir": str(args.data_dir.resolve()),
              "results_dir": str(args.results_dir.resolve())}
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
