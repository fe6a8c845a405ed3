"""Copy GraphiQL's pinned browser bundles into graphql_api/static/graphiql/.

Why this exists: Strawberry's built-in GraphiQL page loads React, GraphiQL and
the explorer plugin from unpkg.com, which never loads in air-gapped sites. The
exact same files are pinned in graphiql/package-lock.json; this script
installs them with `npm ci` (only when node_modules is missing or stale) and
copies the few prebuilt files the page needs, under flat names, next to a
manifest.json with their sha256. Nothing is bundled or transpiled, so the
served bytes are the ones published on npm. The page's own script, styles and
favicon (graphiql/page/, written here, not on npm) are copied alongside, so
everything the page loads comes from one directory listed in one manifest.

Usage: python graphiql/build.py   (stdlib only; needs npm unless already installed)

Idempotent: a second run neither reinstalls nor rewrites unchanged files.
Every failure exits with status 1 and ends with one "graphiql/build.py: error:
..." line on stderr (after npm's own output, if npm ran).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PAGE_SOURCES = HERE / "page"
LOCKFILE = HERE / "package-lock.json"
NODE_MODULES = HERE / "node_modules"
# npm rewrites this hidden lockfile on every install; its mtime tells us when
# node_modules was last installed (the directory's own mtime does not).
INSTALL_MARKER = NODE_MODULES / ".package-lock.json"
DEST = REPO_ROOT / "graphql_api" / "static" / "graphiql"
MANIFEST_NAME = "manifest.json"
NPM_COMMAND = ("npm", "ci", "--no-audit", "--no-fund")
FILE_MODE = 0o644


class Asset(NamedTuple):
    """One file to serve: where npm puts it and the flat name we serve it as."""

    package: str
    path_in_package: str
    served_as: str
    required: bool = True


# Keep the served names in sync with graphql_api/graphiql.py (a test checks).
ASSETS: tuple[Asset, ...] = (
    Asset("react", "umd/react.production.min.js", "react.production.min.js"),
    Asset(
        "react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"
    ),
    Asset("graphiql", "graphiql.min.js", "graphiql.min.js"),
    Asset("graphiql", "graphiql.min.css", "graphiql.min.css"),
    Asset("@graphiql/plugin-explorer", "dist/index.umd.js", "plugin-explorer.umd.js"),
    Asset(
        "@graphiql/plugin-explorer",
        "dist/style.css",
        "plugin-explorer.css",
        required=False,
    ),
)

# Strongroom's own files in graphiql/page/, served under the same names.
PAGE_FILES: tuple[str, ...] = (
    "strongroom-graphiql.js",
    "strongroom-graphiql.css",
    "favicon.svg",
)


class BuildError(Exception):
    """A failure reported to the user as one line."""


def locked_versions() -> dict[str, str]:
    """Versions package-lock.json pins for the packages we copy files from."""
    try:
        lock = json.loads(LOCKFILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {LOCKFILE}: {exc}") from exc
    packages = lock.get("packages", {})
    versions: dict[str, str] = {}
    for name in sorted({asset.package for asset in ASSETS}):
        entry = packages.get(f"node_modules/{name}")
        if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
            raise BuildError(f"{LOCKFILE.name} does not pin {name}")
        versions[name] = entry["version"]
    return versions


def installed_version(package: str) -> str | None:
    """The version of `package` in node_modules, or None if absent/unreadable."""
    try:
        meta = json.loads(
            (NODE_MODULES / package / "package.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return None
    version = meta.get("version")
    return version if isinstance(version, str) else None


def needs_install(versions: dict[str, str]) -> bool:
    """True when node_modules is missing, older than the lockfile, or drifted."""
    try:
        if INSTALL_MARKER.stat().st_mtime < LOCKFILE.stat().st_mtime:
            return True
    except OSError:
        return True
    # A later `npm install <other version>` leaves a fresh marker but wrong files.
    return any(installed_version(name) != version for name, version in versions.items())


def npm_ci() -> None:
    """Run `npm ci` in graphiql/, letting npm's own output through."""
    npm = shutil.which(NPM_COMMAND[0])
    if npm is None:
        raise BuildError(
            "npm not found on PATH; install Node.js/npm to build GraphiQL's assets"
        )
    print(
        f"graphiql/build.py: running {' '.join(NPM_COMMAND)} in {HERE}", file=sys.stderr
    )
    try:
        result = subprocess.run([npm, *NPM_COMMAND[1:]], cwd=HERE, check=False)
    except OSError as exc:
        raise BuildError(f"could not run npm: {exc}") from exc
    if result.returncode != 0:
        raise BuildError(
            f"`{' '.join(NPM_COMMAND)}` failed with exit status {result.returncode}"
        )


def write_if_changed(target: Path, data: bytes) -> bool:
    """Atomically replace `target` with `data` unless it already holds it."""
    try:
        if target.read_bytes() == data:
            if stat.S_IMODE(target.stat().st_mode) != FILE_MODE:
                target.chmod(FILE_MODE)
            return False
    except OSError:
        pass
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # mkstemp creates 0600 files; the server may run as another user.
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return True


def copy_assets(versions: dict[str, str]) -> list[str]:
    """Copy the assets into DEST, write manifest.json, drop stale files."""
    DEST.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, object]] = {}
    changed: list[str] = []
    for asset in ASSETS:
        source = NODE_MODULES / asset.package / asset.path_in_package
        if not source.is_file():
            if asset.required:
                raise BuildError(f"{source.relative_to(HERE)} is missing after npm ci")
            continue
        data = source.read_bytes()
        version = versions[asset.package]
        if write_if_changed(DEST / asset.served_as, data):
            changed.append(asset.served_as)
        files[asset.served_as] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "source": f"{asset.package}@{version}/{asset.path_in_package}",
        }
    for name in PAGE_FILES:
        source = PAGE_SOURCES / name
        try:
            data = source.read_bytes()
        except OSError as exc:
            where = source.relative_to(REPO_ROOT)
            raise BuildError(f"cannot read {where}: {exc}") from exc
        if write_if_changed(DEST / name, data):
            changed.append(name)
        files[name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "source": str(source.relative_to(REPO_ROOT)),
        }
    manifest = {
        "generated_by": "graphiql/build.py",
        "packages": versions,
        "files": files,
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    if write_if_changed(DEST / MANIFEST_NAME, manifest_bytes):
        changed.append(MANIFEST_NAME)
    # DEST is generated: anything else in it is left over from an older build.
    keep = set(files) | {MANIFEST_NAME}
    for entry in DEST.iterdir():
        if entry.is_file() and entry.name not in keep:
            entry.unlink()
            changed.append(f"-{entry.name}")
    return changed


def main() -> int:
    try:
        versions = locked_versions()
        if needs_install(versions):
            npm_ci()
            if needs_install(versions):
                raise BuildError(
                    "node_modules still does not match package-lock.json after npm ci"
                )
        changed = copy_assets(versions)
    except BuildError as exc:
        print(f"graphiql/build.py: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"graphiql/build.py: error: {exc}", file=sys.stderr)
        return 1
    where = DEST.relative_to(REPO_ROOT)
    if changed:
        print(f"graphiql/build.py: updated {where}: {', '.join(changed)}")
    else:
        print(f"graphiql/build.py: {where} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
