# Restart after a kill: a Snakemake process killed with SIGKILL (OOM killer, a lost terminal, a
# node reboot) leaves its locks in .snakemake/locks, and the next run stops with LockException
# until someone runs `snakemake --unlock`. Snakemake cannot tell a stale lock from a live one;
# this can: every main Snakemake process of this workflow holds an flock on
# .snakemake/hat-instance.flock for its lifetime, and the kernel drops it when the process dies,
# however it dies. A run that gets the flock is the only live instance here, so the locks it finds
# are stale and it removes them; a run that does not get it leaves them, and Snakemake's own check
# refuses to run beside the live instance as before. Job processes (local subprocesses, SLURM job
# steps) parse this file too and do nothing. Incomplete outputs are handled by rerun-incomplete
# (profiles/default).

import fcntl
import shutil

INSTANCE_FLOCK = Path(".snakemake/hat-instance.flock")  # relative to the working directory, as .snakemake


def release_stale_locks():
    """Remove .snakemake/locks when no other main Snakemake process runs in this directory."""
    if not workflow.is_main_process:
        return None
    INSTANCE_FLOCK.parent.mkdir(exist_ok=True)
    handle = open(INSTANCE_FLOCK, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    shutil.rmtree(INSTANCE_FLOCK.parent / "locks", ignore_errors=True)
    return handle  # kept open (module global below) until this process exits


HAT_INSTANCE_LOCK = release_stale_locks()
