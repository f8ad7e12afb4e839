"""The layer rules (docs/architecture.md), checked on the source tree with an AST walk of every import,
top-level or inside a function: a rule broken anywhere in the tree fails here with the file and line."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = ("addon", "training", "export")  # the folders installed as the `nftgan` package
PACKAGE = {"addon": "nftgan", "training": "nftgan.training", "export": "nftgan.export"}
BLENDER = ROOT / "addon" / "blender"

# folder -> top-level modules it must never import
NEVER = {
    "addon/core": {"bpy", "torch"},
    "addon/blender": {"torch"},
    "training": {"bpy", "onnx", "onnxruntime"},
    "export": {"bpy"},
}
OLD_NAMES = {"training", "export", "addon"}  # the top-level packages before there was one `nftgan`


def python_files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py") if "__pycache__" not in p.parts)


def imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, level) of every import in the file; `from . import x` gives (line, "x", 1)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                out.append((node.lineno, node.module, node.level))
            else:
                out += [(node.lineno, alias.name, node.level) for alias in node.names]
    return out


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


@pytest.mark.parametrize("folder", sorted(NEVER))
def test_layers_never_import_what_they_must_not(folder):
    bad = [
        f"{where(path, line)} imports {module}"
        for path in python_files(folder)
        for line, module, level in imports(path)
        if level == 0 and module.split(".")[0] in NEVER[folder]
    ]
    assert not bad, "\n".join(bad)


def test_training_never_imports_export():
    """export builds on training, not the other way round (an exported .onnx is read for `nftgan train --init`
    by export's reader, which training.initfrom finds by name: a training install without onnx still trains)."""
    bad = [
        f"{where(path, line)} imports {module}"
        for path in python_files("training")
        for line, module, level in imports(path)
        if (level == 0 and module.startswith("nftgan.export")) or (level >= 2 and module.startswith("export"))
    ]
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_old_top_level_names():
    bad = [
        f"{where(path, line)} imports {module} (use nftgan.{module})"
        for path in python_files("addon", "training", "export", "tests", "tools")
        for line, module, level in imports(path)
        if level == 0 and module.split(".")[0] in OLD_NAMES
    ]
    assert not bad, "\n".join(bad)


def test_the_add_on_imports_itself_relatively():
    """Blender imports the add-on as bl_ext.<repo>.nftgan: an absolute `nftgan` import would not be it."""
    bad = [
        f"{where(path, line)} imports {module}"
        for path in python_files("addon")
        for line, module, level in imports(path)
        if level == 0 and module.split(".")[0] == "nftgan"
    ]
    assert not bad, "\n".join(bad)


def test_every_package_is_listed_in_pyproject():
    with open(ROOT / "pyproject.toml", "rb") as fh:
        listed = set(tomllib.load(fh)["tool"]["setuptools"]["packages"])
    found = {
        ".".join([PACKAGE[init.relative_to(ROOT).parts[0]], *init.relative_to(ROOT).parts[1:-1]])
        for folder in CODE
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set(), f"add these to [tool.setuptools] packages: {sorted(found - listed)}"
    assert listed - found == set(), f"listed but not packages: {sorted(listed - found)}"


def _blender_modules() -> list[str]:
    tree = ast.parse((BLENDER / "__init__.py").read_text(encoding="utf-8"))
    node = next(
        n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "MODULES"
    )
    return ast.literal_eval(node.value)


def test_blender_modules_import_only_modules_below_them():
    """No import cycles in addon/blender: each module imports only modules listed before it in MODULES,
    and never another module's private names."""
    order = _blender_modules()
    assert sorted(order) == sorted(p.stem for p in BLENDER.glob("*.py") if p.stem != "__init__")
    bad = []
    for name in order:
        path = BLENDER / f"{name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        siblings = set()
        for line, module, level in imports(path):
            if level != 1:
                continue
            sibling = module.split(".")[0]
            siblings.add(sibling)
            if sibling in order and order.index(sibling) >= order.index(name):
                bad.append(f"{where(path, line)}: {name} imports {sibling}, which is not below it")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                bad += [
                    f"{where(path, node.lineno)}: imports private {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in siblings
                and node.attr.startswith("_")
            ):
                bad.append(f"{where(path, node.lineno)}: uses private {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)
