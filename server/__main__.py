"""Command line: `python -m server run | migrate | seed-demo | create-user | ingest |
ingest-config`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from server import __version__
from server.settings import Settings, SettingsError, load_settings

log = logging.getLogger("server")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from server import migrate
    from server.db import masked

    url = settings.effective_database_url
    migrate.upgrade(url)
    print(f"database at {masked(url)} is up to date")
    return 0


def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    from server import migrate, serve
    from server.app import create_app
    from server.embedded_redis import EmbeddedRedisError
    from server.logs import setup_logging

    setup_logging(settings.log_format, settings.log_level)
    try:
        pending = migrate.pending_sync(settings.effective_database_url)
    except (OSError, SQLAlchemyError) as exc:
        print(f"error: the database is unreachable: {exc}", file=sys.stderr)
        return 1
    if pending:
        print(
            "error: the database schema is not up to date: run `python -m server migrate`",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_app(settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info(
        "starting",
        extra={
            "version": __version__,
            "url": settings.base_url,
            "database": settings.database_kind,
            "redis": "embedded" if settings.embedded_redis else "external",
        },
    )
    # The first SIGTERM or SIGINT starts a graceful stop: the listener closes, in-flight
    # requests get shutdown_timeout to finish, then cleanup_ctx closes sockets and stops Redis.
    # Further signals (make forwards the group's SIGTERM again) are logged and ignored.
    try:
        serve.run(app, settings)
    except (EmbeddedRedisError, OSError, RedisError, SQLAlchemyError) as exc:
        # Start-up failures (port taken, data directory in use, a backend unreachable) end in
        # one line, not a traceback; the traceback is there at DEBUG.
        log.debug("start-up failed", exc_info=True)
        print(f"error: the server could not start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _seed(settings: Settings) -> dict[str, Any]:
    from server.accounts.passwords import Passwords
    from server.db import engine_for, sessionmaker
    from server.seed import seed_demo

    engine = engine_for(settings)
    try:
        passwords = Passwords(settings.password_hash_time_cost, settings.password_hash_memory_kib)
        return await seed_demo(sessionmaker(engine), settings, passwords)
    finally:
        await engine.dispose()


def cmd_seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    info = asyncio.run(_seed(settings))
    base = settings.base_url
    print("demo " + ("created" if info["created"] else "already present, nothing seeded"))
    owner = info["owner"]
    print(f"  console: {base}/console/")
    print(f"    log in as {owner['email']} / {owner['password'] or '(see create-user)'}")
    if "host" in info:
        print(f"    or as {info['host']['email']} / {info['host']['password']}")
    if "show_id" in info:
        print(f"  player:  {base}/watch/{info['show_id']}")
    return 0


async def _create_user(settings: Settings, args: argparse.Namespace, password: str) -> str:
    from core.identity import Role
    from server.accounts.models import Account, Membership
    from server.accounts.passwords import Passwords
    from server.accounts.service import normalize_email
    from server.db import engine_for, sessionmaker

    engine = engine_for(settings)
    passwords = Passwords(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    try:
        async with sessionmaker(engine).begin() as session:
            account = Account(
                email=normalize_email(args.email),
                display_name=args.name,
                password_hash=await passwords.hash(password),
            )
            session.add(account)
            await session.flush()
            if args.shop_id is not None:
                session.add(
                    Membership(
                        shop_id=args.shop_id, account_id=account.id, role=Role(args.role).value
                    )
                )
            return f"created account {account.id} ({account.email})"
    finally:
        await engine.dispose()


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.accounts.schemas import SignUp

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    try:
        SignUp(email=args.email, password=password, display_name=args.name)
    except ValidationError as exc:
        err = exc.errors()[0]
        print(f"error: {err['loc'][0]}: {err['msg']}", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(_create_user(settings, args, password)))
    except Exception as exc:  # noqa: BLE001 (one line for the operator, not a traceback)
        print(f"error: could not create the account: {type(exc).__name__}", file=sys.stderr)
        return 1
    return 0


def cmd_ingest_config(settings: Settings, args: argparse.Namespace) -> int:
    from live.ingest.nginx import render
    from server.media import media_config

    directory = Path(args.directory) if args.directory else None
    text = render(media_config(settings, directory))
    secret = settings.ingest_secret
    if secret is not None and not args.show_secret:
        text = text.replace(secret.get_secret_value(), "<INGEST_SECRET>")
    sys.stdout.write(text)
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    """Write the media server's configuration under DATA_DIR/ingest and run nginx in the
    foreground (replacing this process, so a stop signal reaches nginx itself)."""
    from live.ingest.nginx import RTMP_MODULE
    from server import media

    nginx = media.nginx_binary()
    config = media.media_config(settings, Path(args.directory) if args.directory else None)
    if nginx is None:
        print(
            "error: nginx with the RTMP module is needed: apt-get install -y nginx "
            f"libnginx-mod-rtmp (looked for {RTMP_MODULE})",
            file=sys.stderr,
        )
        return 1
    path = media.write(config)
    print(
        f"media server: publish to {settings.rtmp_ingest_url}/<stream key>, "
        f"HLS at {settings.hls_base}/, callbacks to {settings.callback_base}",
        file=sys.stderr,
    )
    if config.module is None:
        print(
            f"note: {RTMP_MODULE} is missing: nginx needs the RTMP module built in", file=sys.stderr
        )
    sys.stderr.flush()
    os.execv(nginx, media.command(nginx, config, path))  # noqa: S606 - our own nginx, no shell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="liveshop server")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve HTTP and Socket.IO")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed-demo", help="create the demo shop, catalog and show (once)")
    cu = sub.add_parser("create-user", help="create an account (password from a prompt)")
    cu.add_argument("--email", required=True)
    cu.add_argument("--name", required=True)
    cu.add_argument("--shop-id", type=int)
    cu.add_argument("--role", choices=["owner", "host", "moderator"], default="host")
    cu.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    for name, text in (
        ("ingest", "run the media server (nginx-rtmp) for encoders and HLS"),
        ("ingest-config", "print the media server's nginx configuration"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--directory", help="nginx's prefix (default DATA_DIR/ingest)")
        if name == "ingest-config":
            cmd.add_argument(
                "--show-secret", action="store_true", help="print INGEST_SECRET, not a mask"
            )
    args = parser.parse_args(argv)
    commands = {
        "run": cmd_run,
        "migrate": cmd_migrate,
        "seed-demo": cmd_seed_demo,
        "create-user": cmd_create_user,
        "ingest": cmd_ingest,
        "ingest-config": cmd_ingest_config,
    }
    return commands[args.command](_settings(), args)


if __name__ == "__main__":
    raise SystemExit(main())
