"""Where the sync's tools find config.py and constants.py: the one lookup every entry point uses.

The original misp2sentinel did `import config` and `from constants import *`, so Python found both files
beside the script that was run (its directory is first on sys.path), wherever the working directory
was. This project keeps that and adds a flag and the working directory:

    config.py      --config PATH; else ./config.py; else config.py beside the command that was run
    constants.py   beside the config.py in use; else ./constants.py; else beside the command; else the
                   tables built into the package (config/defaults.py BUILTIN_CONSTANTS)

"The command" is script.py, check-config.py or delete-from-azure.py for a checkout or a copied tree, and
the console script (misp2sentinel, ...) for an installed package. Other entry points (the Azure Function)
call `Lookup.constants` with the directory they hold settings in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from misp_bridge.errors import ConfigFileError

CONFIG_NAME = "config.py"
CONSTANTS_NAME = "constants.py"


@dataclass(frozen=True)
class Found:
    """A settings file and the rule of the lookup that found it (said in the log and by check-config)."""

    path: Path
    how: str


@dataclass(frozen=True)
class Lookup:
    """The places a run may take its settings files from: the working directory and the command's."""

    cwd: Path
    command_dir: Path | None = None

    @classmethod
    def here(cls, command_dir: Path | None = None) -> Lookup:
        return cls(Path.cwd(), command_dir.resolve() if command_dir is not None else None)

    def _places(self) -> list[tuple[Path, str]]:
        places = [(self.cwd, "the current directory")]
        if self.command_dir is not None and self.command_dir.resolve() != self.cwd.resolve():
            places.append((self.command_dir, "beside the command"))
        return places

    def config(self, given: Path | str | None) -> Found:
        """The config.py to use; ConfigFileError naming every place looked at when there is none."""
        if given is not None:
            path = (self.cwd / Path(given).expanduser()).resolve()
            if not path.is_file():
                raise ConfigFileError(CONFIG_NAME, f"not found at {path} (--config)")
            return Found(path, "--config")
        for directory, how in self._places():
            candidate = (directory / CONFIG_NAME).resolve()
            if candidate.is_file():
                return Found(candidate, how)
        looked = " and ".join(str(directory / CONFIG_NAME) for directory, _ in self._places())
        raise ConfigFileError(
            CONFIG_NAME, f"not found: looked for {looked}; copy config.py.default or pass --config PATH"
        )

    def constants(self, config_dir: Path) -> Found | None:
        """The constants.py to read, or None for the tables built into the package."""
        places = [(config_dir, "beside config.py"), *self._places()]
        for directory, how in places:
            candidate = (directory / CONSTANTS_NAME).resolve()
            if candidate.is_file():
                return Found(candidate, how)
        return None
