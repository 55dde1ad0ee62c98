"""One trainer per run directory: an exclusive lock file `<run_dir>/.train.lock`.

The chief takes the lock before it touches the run directory (before the startup cleanup of the checkpoint
folder, which must not run under another trainer's save) and releases it when train() ends, however it ends:
completed, stopped by SIGTERM / SIGINT, or failed. The file holds the holder's pid, host and start time, for the
message that refuses a second trainer (RunDirLocked, exit status 75 in run_train.py).

The lock itself is an fcntl.flock on that file, which the kernel releases when the process dies, SIGKILL
included, so there is no window in which two processes both decide a lock is stale and both take it. A file left
by a killed trainer of this host is therefore free to take; its former holder is named in one line (`note`). A
file left by another host is refused: this host cannot tell whether that process still runs (a file system
whose flock does not reach other hosts), so the user removes it. A release unlinks the file before it lets go of
the lock, and a taker checks that the file it locked is still the one at the path (else it opens the new one),
so a trainer that opened the file just before a release cannot end up holding a lock nobody else sees.
"""
import datetime
import errno
import fcntl
import json
import os
import socket

LOCK_FILE = ".train.lock"
# flock unsupported by the file system: fall back to the recorded holder (pid alive on this host?).
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


class RunDirLocked(RuntimeError):
    """Another trainer holds the run directory (its pid and host are in the message)."""


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


class RunDirLock:
    """The lock of `run_dir` (module doc): acquire() (raises RunDirLocked), release(); `note` is the line to print
    after a stale lock was taken over, else None."""

    def __init__(self, run_dir):
        self.run_dir = os.fspath(run_dir)
        self.path = os.path.join(self.run_dir, LOCK_FILE)
        self.note = None
        self._fd = None
        self._created_dir = False

    def _holder_text(self, holder):
        return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, since "
                f"{holder.get('started', '?')}")

    def _refuse(self, holder, why):
        raise RunDirLocked(f"{self.run_dir}: {why} ({self._holder_text(holder)}; lock file {self.path}); "
                           f"wait for it to end or use another --run_dir")

    @staticmethod
    def _read(fd):
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace")
        try:
            holder = json.loads(text) if text.strip() else {}
        except ValueError:
            holder = {"pid": "?", "host": "?", "started": f"unreadable lock file {text[:40]!r}"}
        return holder if isinstance(holder, dict) else {}

    def acquire(self):
        self._created_dir = not os.path.isdir(self.run_dir)
        os.makedirs(self.run_dir, exist_ok=True)
        try:
            self._take()
        except BaseException:
            self.release()
            raise
        return self

    def _take(self):
        host = socket.gethostname()
        while True:
            fd = self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            flock = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._fd = None
                holder = self._read(fd)
                os.close(fd)
                self._refuse(holder, "another trainer is running in this run directory")
            except OSError as error:
                if error.errno not in _NO_FLOCK:
                    raise
                flock = False
            try:
                same_file = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)   # released and unlinked between our open and our flock: open the new file
            self._fd = None
        holder = self._read(fd)
        if holder:
            if holder.get("host") != host:
                self._fd = None
                os.close(fd)
                self._refuse(holder, "a trainer on another host left its lock here and this host cannot tell "
                                     "whether it still runs; delete the lock file if it does not")
            if not flock and isinstance(holder.get("pid"), int) and _pid_alive(holder["pid"]):
                self._fd = None
                os.close(fd)
                self._refuse(holder, "another trainer is running in this run directory")
            self.note = (f"took over the stale lock of {self.run_dir} left by {self._holder_text(holder)} "
                         f"(no longer running)")
        record = {"pid": os.getpid(), "host": host,
                  "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(record) + "\n").encode())

    def release(self):
        """Remove the lock file and let go of the lock; the run directory too when acquire() made it and nothing
        else was written into it. Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    os.remove(self.path)
            except FileNotFoundError:
                pass
            finally:
                os.close(fd)
        if self._created_dir:
            self._created_dir = False
            try:
                os.rmdir(self.run_dir)
            except OSError:   # not empty: the run wrote something
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


def held(run_dir):
    """Whether a trainer holds the lock of `run_dir` now; the check leaves no lock file (nor folder) behind."""
    lock = RunDirLock(run_dir)
    try:
        lock.acquire()
    except RunDirLocked:
        return True
    lock.release()
    return False
