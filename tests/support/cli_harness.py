"""Helpers for running `desktop-crm` as a subprocess against a real keyring."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from desktop_crm.crypto import totp

PIN = "135790"


@dataclass
class Result:
    """What one run of the command printed and returned."""

    code: int
    out: str
    err: str

    def line(self, prefix: str) -> str:
        for line in self.out.splitlines():
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise AssertionError(f"no line starting {prefix!r} in {self.out!r}")


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def fresh_code(secret: str, used: set[int]) -> str:
    """A valid code for a time step not used before (waits for the next step)."""
    while True:
        now = time.time()
        for offset in (0, 1):
            step = totp.time_step(now) + offset
            if step not in used:
                used.add(step)
                return totp.code_at(secret, step * totp.PERIOD)
        time.sleep(1)


@dataclass
class CLI:
    """Runs `python -m desktop_crm` with a private keyring and data folder."""

    env: dict[str, str]
    data_dir: Path
    workdir: Path
    used_steps: dict[str, set[int]] = field(default_factory=dict)

    def file(self, name: str, text: str) -> str:
        path = self.workdir / name
        path.write_text(text)
        return str(path)

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "desktop_crm",
                *args,
                "--data-dir",
                str(self.data_dir),
            ]
            if args and not args[0].startswith("-")
            else [sys.executable, "-m", "desktop_crm", *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def env_for(self, keyring_session: object) -> dict[str, str]:
        """This CLI's settings with another keyring session (another machine)."""
        env = dict(keyring_session.env)  # type: ignore[attr-defined]
        env["DESKTOP_CRM_TEST_KDF"] = "1"
        env["PYTHONPATH"] = self.env["PYTHONPATH"]
        return env

    def code(self, secret: str) -> str:
        return fresh_code(secret, self.used_steps.setdefault(secret, set()))

    def init(self, admin: str = "Ana Admin", pin: str = PIN) -> tuple[str, str]:
        """Create the vault; returns (TOTP secret, recovery key)."""
        result = self.run(
            "init",
            "--practice",
            "Smith & Jones Telehealth",
            "--admin",
            admin,
            "--pin-file",
            self.file("admin.pin", pin + "\n"),
            "--tz",
            "America/Chicago",
        )
        assert result.code == 0, result.err
        assert len(result.out.splitlines()) == 2
        return secret_of(result.line("totp-uri:")), result.line("recovery-key:")

    def as_user(self, name: str, pin: str, otp: str | None, *args: str) -> Result:
        extra = ["--user", name, "--pin-file", self.file(f"{name}.pin", pin)]
        if otp is not None:
            extra += ["--otp", otp]
        return self.run(*args, *extra)
