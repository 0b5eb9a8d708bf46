"""Command line and environment of the service, resolved once into frozen settings."""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from . import faults

SYSTEMS = ("router-api", "granter", "tascade", "api-platform", "redcube")


@dataclass(frozen=True)
class Settings:
    """What to serve, where, on which database, with which faults on."""

    system: str
    dsn: str
    host: str
    port: int
    faults: frozenset[str]
    log_file: Path | None
    release: str
    analysis_delay_s: float
    tascade_api_key: str | None
    demo_project: str | None

    @property
    def systems(self) -> tuple[str, ...]:
        """The systems served: one, or all five."""
        return SYSTEMS if self.system == "all" else (self.system,)

    def prefix(self, system: str) -> str:
        """Where ``system``'s routes live: the root, or ``/<system>`` when serving all."""
        return f"/{system}" if self.system == "all" else ""


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise argparse.ArgumentTypeError(
            f"refusing to bind {host!r}: only IPv4 loopback addresses (127.0.0.0/8) are allowed"
        )
    return host


def _fault_list(value: str) -> frozenset[str]:
    try:
        return faults.parse(value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m examples.sample_service`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.sample_service",
        description="A real HTTP service standing in for the seed systems, for testing gates.",
    )
    parser.add_argument("--system", required=True, choices=(*SYSTEMS, "all"))
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: $DATABASE_URL)")
    parser.add_argument("--host", type=_loopback, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--faults", type=_fault_list, default=frozenset(),
                        help=f"comma-separated faults to start with: {', '.join(faults.KNOWN)}")
    parser.add_argument("--log-file", type=Path, help="append the log here (default: stderr)")
    parser.add_argument("--release", default="1.0.0", help="version reported by health bodies")
    parser.add_argument("--analysis-delay", type=float, default=0.2, metavar="SECONDS",
                        help="how long a redcube analysis takes (default 0.2)")
    parser.add_argument("--demo-project", metavar="NAME",
                        help="tascade: add a project of this name at startup unless one exists "
                             "(smoke flows on a throwaway database need one)")
    return parser


def parse_args(argv: list[str] | None = None) -> Settings:
    """Settings from ``argv`` and the environment; a usage error exits with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    dsn = args.dsn or os.environ.get("DATABASE_URL")
    if not dsn:
        parser.error("no database: pass --dsn or set DATABASE_URL")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port")
    if args.analysis_delay < 0:
        parser.error("--analysis-delay must not be negative")
    return Settings(
        system=args.system, dsn=dsn, host=args.host, port=args.port, faults=args.faults,
        log_file=args.log_file, release=args.release, analysis_delay_s=args.analysis_delay,
        tascade_api_key=os.environ.get("TASCADE_API_KEY") or None,
        demo_project=args.demo_project,
    )
