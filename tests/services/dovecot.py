"""A real IMAP server for tests: Debian's dovecot with its own config, users and Maildir in a temp dir.

It listens only on 127.0.0.1 (a free port), allows plaintext authentication without TLS
(for this loopback test server only), and keeps no system state: base, state and log
directories are all in its temp dir. Messages are delivered with `doveadm save`, as
mail would be by the MTA.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from tests.services import ManagedProcess, ServiceError, spawn, wait_until
from tests.services.ports import free_port, release_ports

DOVECOT_BINARY = "/usr/sbin/dovecot"
DOVEADM_BINARY = "/usr/bin/doveadm"
USER = "intake@clinic.test"
PASSWORD = "intake-test-password"


class Dovecot(ManagedProcess):
    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self.base_dir = Path(tempfile.mkdtemp(prefix="quill-imap-"))
        self.owned_dir = self.base_dir
        self.config_path = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "dovecot.log"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = USER
        self.password = PASSWORD
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> Dovecot:
        if self.is_running:
            return self
        if not Path(DOVECOT_BINARY).exists():
            raise ServiceError(f"{DOVECOT_BINARY} missing: run scripts/install-test-deps.sh", service="dovecot")
        for name in ("run", "state", "mail"):
            (self.base_dir / name).mkdir(exist_ok=True)
        uid, gid = self._mail_ids()
        os.chown(self.base_dir / "mail", uid, gid)
        # dovecot's auth process runs as the `dovecot` user: it must reach the passwd file.
        self.base_dir.chmod(0o711)
        passwd = self.base_dir / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        passwd.chmod(0o644)
        self.config_path.write_text(self._config())
        self._process, self._log_file = spawn(
            [DOVECOT_BINARY, "-F", "-c", str(self.config_path)],
            log_path=self.base_dir / "dovecot.stdout",
            env={"PATH": "/usr/sbin:/usr/bin:/bin"},
        )
        try:
            wait_until(
                self._answers,
                timeout=self.startup_timeout,
                service="dovecot",
                what=f"IMAP on {self.host}:{self.port}",
                log_path=self.log_path,
                process=self._process,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        with imaplib.IMAP4(self.host, self.port, timeout=2) as client:
            client.login(self.user, self.password)
            client.logout()
        return True

    def deliver(self, message: bytes, *, folder: str = "INBOX") -> None:
        """Put one RFC 5322 message into `folder` of the test mailbox (the MTA's part)."""
        subprocess.run(
            [DOVEADM_BINARY, "-c", str(self.config_path), "save", "-u", self.user, "-m", folder],
            input=message,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def folder_uids(self, folder: str) -> list[int]:
        """The UIDs of the messages in `folder` (empty if the folder does not exist)."""
        with imaplib.IMAP4(self.host, self.port, timeout=5) as client:
            client.login(self.user, self.password)
            status, _ = client.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return []
            _, data = client.uid("SEARCH", "ALL")
            client.logout()
        return [int(uid) for uid in (data[0] or b"").split()]

    def empty(self) -> None:
        """Remove every message and folder of the test mailbox (between tests)."""
        subprocess.run(
            [DOVEADM_BINARY, "-c", str(self.config_path), "expunge", "-u", self.user, "mailbox", "*", "all"],
            check=False,
            capture_output=True,
            timeout=30,
        )

    @staticmethod
    def _mail_ids() -> tuple[int, int]:
        """Dovecot refuses to store mail as root: as root, mail belongs to `nobody`."""
        if os.getuid() != 0:
            return os.getuid(), os.getgid()
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid

    def _on_close(self) -> None:
        release_ports([self.port])

    def _config(self) -> str:
        uid, gid = self._mail_ids()
        return f"""
base_dir = {self.base_dir}/run
state_dir = {self.base_dir}/state
instance_name = quill-test-{self.port}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.log_path}
info_log_path = {self.log_path}
mail_location = maildir:{self.base_dir}/mail/%u/Maildir
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.base_dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.base_dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""
