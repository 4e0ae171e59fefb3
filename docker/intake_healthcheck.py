"""Liveness probe of the `intake` container: its loop touched var/intake-heartbeat recently."""

import os
import sys
import time

HEARTBEAT = "/app/var/intake-heartbeat"
MAX_AGE_SECONDS = 300

try:
    age = time.time() - os.stat(HEARTBEAT).st_mtime
except OSError as error:
    print(f"intake has not reported yet: {error}")
    sys.exit(1)
if age > MAX_AGE_SECONDS:
    print(f"intake's last pass was {age:.0f} s ago")
    sys.exit(1)
sys.exit(0)
