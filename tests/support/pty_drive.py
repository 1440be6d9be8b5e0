"""Runs a command on a pseudo-terminal and answers its prompts, as a person would.

usage: pty_drive.py [--expect TEXT (--send LINE | --send-output CMD)]... -- COMMAND [ARG]...

Each --expect waits (up to 30 s) until TEXT has appeared in the terminal output, then types
the LINE that follows it and Enter; --send-output types the first line CMD prints (run with
`sh -c` at that moment, for a code that is only valid then, such as a TOTP code). Prints
the transcript on stdout and exits with the command's exit status.
"""

import os
import pty
import subprocess
import select
import sys
import termios
import time


def echo_off(fd: int) -> bool:
    """Whether the program has turned echo off, as a password prompt does before reading."""
    try:
        return not termios.tcgetattr(fd)[3] & termios.ECHO
    except termios.error:
        return False


def answer(kind: str, value: str) -> str:
    if kind == "--send-output":
        out = subprocess.run(["sh", "-c", value], check=True, capture_output=True, text=True)
        return out.stdout.splitlines()[0]
    return value


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--")
    pairs, command = argv[:split], argv[split + 1:]
    script = [(pairs[i + 1], pairs[i + 2], pairs[i + 3]) for i in range(0, len(pairs), 4)]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    transcript = b""
    deadline = time.monotonic() + 30
    step = 0
    while True:
        if step < len(script) and script[step][0].encode() in transcript and echo_off(fd):
            transcript = transcript.replace(script[step][0].encode(), b"<" + b"answered" + b">", 1)
            os.write(fd, answer(script[step][1], script[step][2]).encode() + b"\r")
            step += 1
            continue
        if time.monotonic() > deadline:
            sys.stdout.write(transcript.decode(errors="replace"))
            sys.stderr.write(f"pty_drive: timed out waiting for {script[step][0]!r}\n")
            os.kill(pid, 9)
            return 124
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            transcript += chunk
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(transcript.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
