"""Exporting our marimo notebooks to Colab/Jupyter notebooks (`scripts/export_to_ipynb.sh` runs this).

`marimo export ipynb` gives the cells; this module puts the Colab cells in front of them:

1. an install cell: the toolkit from git (`agentbench-tuning[<the notebook's extras>] @ git+<repo>@<ref>`) plus
   every direct dependency the notebook needs, pinned to the version in the repository's `uv.lock` (but for
   IPython, which the Colab kernel itself runs on, and packages locked at several versions). What a
   notebook needs is its PEP 723 block (`# /// script`), the same list `uv run` and `marimo edit --sandbox`
   install, so the two cannot drift;
2. a markdown cell with the notebook's docstring;
3. a parameters cell (tagged `parameters`, papermill-style): `NOTEBOOK_ARGS = ""`, the notebook's
   arguments in script-mode form, because marimo's widgets do not show in Jupyter or Colab;
4. a cell that hands those arguments to `agentbench_tuning.notebooks.cli_args`.

Beside each ipynb goes the marimo notebook itself with its PEP 723 path source (the checkout) replaced by a
git source (`with_git_source`), so the exported .py also builds its own environment with `uv run` or
`marimo edit --sandbox`, away from any checkout.

    python -m agentbench_tuning.notebook_export list                   # the marimo notebooks in the repo
    python -m agentbench_tuning.notebook_export repo-url [--repo URL]  # the https URL the install cell uses
    python -m agentbench_tuning.notebook_export requirements training/sft.py --repo URL [--ref REF]
    python -m agentbench_tuning.notebook_export add-colab-cells out.ipynb --notebook training/sft.py --repo URL
    python -m agentbench_tuning.notebook_export standalone training/sft.py --repo URL [--ref REF] > sft.py

The repo URL comes from `--repo`, else ABTUNE_REPO_URL, else this checkout's `origin` remote (SSH remotes are
rewritten to https, since Colab has no SSH key); with none of them it is an error, not a placeholder.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

NOTEBOOK_DIRS = ("training", "dataset", "eval")
PROJECT = "agentbench-tuning"
# Marks the cells we insert, so exporting again replaces them instead of stacking more.
COLAB_TAG = "abtune-colab"
INSTALL_TAG = "abtune-install"
PARAMETERS_TAG = "parameters"  # papermill's tag: `papermill -p NOTEBOOK_ARGS "--debug"` fills it in
SKIP_INSTALL_VAR = "ABTUNE_SKIP_INSTALL"
# Left at the runtime's own version: Colab's kernel runs on its IPython, and replacing it under a live kernel
# breaks the notebook until a restart (our `ipython>=8` floor still applies).
RUNTIME_OWNED = frozenset({"ipython"})
# PEP 723's reference regular expression for an inline script metadata block.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def find_notebooks(root: str | os.PathLike = ".") -> list[Path]:
    """Every marimo notebook (a .py file that creates `marimo.App(`) directly in training/, dataset/, eval/."""
    found = []
    for directory in NOTEBOOK_DIRS:
        for path in sorted((Path(root) / directory).glob("*.py")):
            if "marimo.App(" in path.read_text(encoding="utf-8"):
                found.append(path)
    return found


def script_metadata(path: str | os.PathLike) -> dict:
    """The notebook's PEP 723 `script` block as a dict; a notebook without one is an error naming the file."""
    text = Path(path).read_text(encoding="utf-8")
    blocks = [m for m in _BLOCK.finditer(text) if m.group("type") == "script"]
    if len(blocks) != 1:
        raise ValueError(f"{path}: expected one `# /// script` block (PEP 723), found {len(blocks)}; "
                         f"start the notebook with one that lists its dependencies")
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in blocks[0].group("content").splitlines(keepends=True))
    return tomllib.loads(content)


_PATH_SOURCE = re.compile(r'(?m)^# agentbench-tuning = \{ path = "[^"]*"(?:, editable = true)? \}$')
_SOURCE_COMMENT = re.compile(r"(?m)^# # The toolkit from this checkout.*$")


def with_git_source(notebook: str | os.PathLike, repo_url: str, ref: str | None = None) -> str:
    """The notebook's text with its PEP 723 path source (`{ path = ".." }`, the checkout) replaced by the git
    repository, so the exported .py resolves on its own: `uv run sft.py`, `marimo edit --sandbox sft.py`."""
    text = Path(notebook).read_text(encoding="utf-8")
    if len(_PATH_SOURCE.findall(text)) != 1:
        raise ValueError(f'{notebook}: its `# /// script` block needs `# agentbench-tuning = {{ path = ".." }}` '
                         "under `# [tool.uv.sources]` (see docs/colab.md)")
    rev = f', rev = "{ref}"' if ref else ""
    text = _PATH_SOURCE.sub(f'# agentbench-tuning = {{ git = "{repo_url}"{rev} }}', text)
    return _SOURCE_COMMENT.sub("# # The toolkit from its git repository (exported by scripts/export_to_ipynb.sh).",
                               text)


def lock_versions(lock_path: str | os.PathLike) -> dict[str, str]:
    """Package name -> version in `uv.lock`, for packages locked at exactly one version (a package locked at
    several, one per Python version or platform, is left for pip to choose)."""
    packages = tomllib.loads(Path(lock_path).read_text(encoding="utf-8")).get("package", [])
    versions: dict[str, set[str]] = {}
    for package in packages:
        if "version" in package:
            versions.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    return {name: found.pop() for name, found in versions.items() if len(found) == 1}


def _project_requirements(pyproject: dict, extras: set[str]) -> list[Requirement]:
    project = pyproject["project"]
    unknown = extras - set(project.get("optional-dependencies", {}))
    if unknown:
        raise ValueError(f"{PROJECT}[{','.join(sorted(unknown))}]: no such extra in pyproject.toml")
    specs = list(project["dependencies"])
    for extra in sorted(extras):
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


def notebook_requirements(notebook: str | os.PathLike, repo_url: str, ref: str | None = None,
                          root: str | os.PathLike = ".") -> list[str]:
    """What the notebook's install cell installs: the toolkit from git with the extras its PEP 723 block asks
    for, then every direct dependency (the toolkit's, its extras', the block's own) pinned to `uv.lock`."""
    root = Path(root)
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    locked = lock_versions(root / "uv.lock")
    toolkit, direct = None, []
    for spec in script_metadata(notebook).get("dependencies", []):
        requirement = Requirement(spec)
        if canonicalize_name(requirement.name) == PROJECT:
            toolkit = requirement
            direct += _project_requirements(pyproject, set(requirement.extras))
        else:
            direct.append(requirement)
    if toolkit is None:
        raise ValueError(f"{notebook}: its `# /// script` block does not list {PROJECT}; add it")
    extras = f"[{','.join(sorted(toolkit.extras))}]" if toolkit.extras else ""
    pinned = {}
    for requirement in direct:
        name = canonicalize_name(requirement.name)
        extra = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pin = name in locked and name not in RUNTIME_OWNED
        pinned[name] = f"{name}{extra}=={locked[name]}" if pin else str(requirement)
    return [f"{PROJECT}{extras} @ git+{repo_url}{'@' + ref if ref else ''}", *pinned.values()]


def install_cell_source(requirements: list[str]) -> str:
    listed = "".join(f"    {json.dumps(r)},\n" for r in requirements)
    return (
        "# Install AgentBench Tuning and what this notebook needs, at the versions in the repository's uv.lock\n"
        "# (Colab / Jupyter; restart the runtime if pip asks). Already installed? Set "
        f"{SKIP_INSTALL_VAR}=1 to skip this.\n"
        "import os\nimport shlex\n\n"
        f"REQUIREMENTS = [\n{listed}]\n"
        f'if os.environ.get("{SKIP_INSTALL_VAR}") != "1":\n'
        "    %pip install -q {shlex.join(REQUIREMENTS)}"
    )


def notebook_docstring(notebook: str | os.PathLike) -> str:
    return ast.get_docstring(ast.parse(Path(notebook).read_text(encoding="utf-8"))) or ""


def script_examples(docstring: str) -> list[str]:
    """The arguments of each `python dir/nb.py ARGS` example in a notebook's docstring."""
    found = re.findall(r"python \S+\.py((?: [^`\n#]+)?)", docstring)
    return [args.strip() for args in found if args.strip()]


def parameters_cell_source(docstring: str) -> str:
    examples = "".join(f'#   NOTEBOOK_ARGS = "{args}"\n' for args in script_examples(docstring))
    return (
        "# Parameters. marimo's widgets do not show in Colab or Jupyter: give the notebook's arguments here, in\n"
        "# the form script mode takes them (python NOTEBOOK.py ARGS), then Runtime > Run all. Empty: the defaults.\n"
        + (f"# For example:\n{examples}" if examples else "")
        + 'NOTEBOOK_ARGS = ""'
    )


def colab_cells(notebook: str | os.PathLike, requirements: list[str]) -> list:
    """The cells that go in front of the exported marimo cells, in order."""
    import nbformat

    docstring = notebook_docstring(notebook)
    title, _, rest = docstring.partition("\n")
    intro = f"# {title}\n\n" + (f"```\n{rest.strip()}\n```\n\n" if rest.strip() else "") + (
        "Exported from the marimo notebook `" + "/".join(Path(notebook).parts[-2:]) + "`. In Colab: set the "
        "parameters cell below, then *Runtime > Run all*.")
    tagged = {"tags": [COLAB_TAG]}
    return [
        nbformat.v4.new_code_cell(install_cell_source(requirements), metadata={"tags": [COLAB_TAG, INSTALL_TAG]}),
        nbformat.v4.new_markdown_cell(intro, metadata=tagged),
        nbformat.v4.new_code_cell(parameters_cell_source(docstring),
                                  metadata={"tags": [COLAB_TAG, PARAMETERS_TAG]}),
        nbformat.v4.new_code_cell("from agentbench_tuning.notebooks import use_notebook_args\n\n"
                                  "use_notebook_args(NOTEBOOK_ARGS)", metadata=tagged),
    ]


def add_colab_cells(ipynb_path: str | os.PathLike, notebook: str | os.PathLike, requirements: list[str]) -> None:
    """Put the Colab cells first (replacing those of an earlier export), validate, write atomically."""
    import nbformat

    path = Path(ipynb_path)
    exported = nbformat.read(path, as_version=4)
    own = [cell for cell in exported.cells if COLAB_TAG not in cell.get("metadata", {}).get("tags", [])]
    exported.cells = colab_cells(notebook, requirements) + own
    exported.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nbformat.validate(exported)
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(exported, tmp)
    os.replace(tmp, path)


def https_git_url(url: str) -> str:
    """`git@host:org/repo(.git)` -> `https://host/org/repo.git`; https URLs pass through."""
    url = url.strip()
    ssh = re.fullmatch(r"(?:ssh://)?git@([^:/]+)[:/](.+?)(?:\.git)?/?", url)
    if ssh:
        return f"https://{ssh.group(1)}/{ssh.group(2)}.git"
    if url.startswith("https://"):
        return url
    raise ValueError(f"repo URL {url!r} is neither https:// nor git@host:org/repo; pass an https URL with --repo")


def resolve_repo_url(repo: str | None, cwd: str | os.PathLike = ".") -> str:
    """--repo, else $ABTUNE_REPO_URL, else `git remote get-url origin` in `cwd`."""
    url = repo or os.environ.get("ABTUNE_REPO_URL")
    if not url:
        result = subprocess.run(["git", "remote", "get-url", "origin"], cwd=cwd, capture_output=True, text=True,
                                check=False)  # fmt: skip
        url = result.stdout.strip() if result.returncode == 0 else ""
    if not url:
        raise ValueError("no repository URL for the install cell: pass --repo URL or set ABTUNE_REPO_URL "
                         "(this checkout has no 'origin' remote)")
    return https_git_url(url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agentbench_tuning.notebook_export",
                                     description=(__doc__ or "").split("\n")[0])  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="print the marimo notebooks under ROOT")
    listing.add_argument("root", nargs="?", default=".")
    repo_help = "git URL of the toolkit (default: $ABTUNE_REPO_URL, else the origin remote)"
    url = commands.add_parser("repo-url", help="print the https URL the install cell uses")
    url.add_argument("--repo", help=repo_help)
    for name, help_text in (("requirements", "print what a notebook's install cell installs, one per line"),
                            ("add-colab-cells", "put the Colab cells in front of an exported ipynb"),
                            ("standalone", "print the notebook with its toolkit source pointing at git")):
        command = commands.add_parser(name, help=help_text)
        if name == "add-colab-cells":
            command.add_argument("ipynb", type=Path)
            command.add_argument("--notebook", type=Path, required=True, help="the marimo notebook it came from")
        else:
            command.add_argument("notebook", type=Path)
        command.add_argument("--repo", help=repo_help)
        command.add_argument("--ref", help="branch, tag or commit to install (default: the default branch)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print("\n".join(str(path) for path in find_notebooks(args.root)))
        elif args.command == "repo-url":
            print(resolve_repo_url(args.repo))
        else:
            notebook = args.notebook
            requirements = notebook_requirements(notebook, resolve_repo_url(args.repo), args.ref)
            if args.command == "requirements":
                print("\n".join(requirements))
            elif args.command == "standalone":
                print(with_git_source(notebook, resolve_repo_url(args.repo), args.ref), end="")
            else:
                add_colab_cells(args.ipynb, notebook, requirements)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
