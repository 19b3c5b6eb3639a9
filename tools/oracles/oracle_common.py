"""oracle_common — shared pieces of Elign-C's Python oracle adapters.

run_with_time_limit(fn, args, time_limit, after=None): call fn(*args) in a
forked child process and return its result; kill the child and raise
TimeoutError after time_limit seconds; after(child_pid), if given, runs once
the child is gone (finished or killed), to remove what the child's library
leaves behind. Exceptions in the child come back as RuntimeError (or a
*Convergence* exception when the child's exception class name says so), so
the C side flags the molecule TIMEOUT / NOT_CONVERGED / BACKEND_ERROR.
Fork (not spawn) keeps modules imported in the parent (psi4, pyscf, torch
models) without re-import; the child never touches MPI.
"""
import multiprocessing as _mp

HARTREE_EV = 27.211386024367243  # CODATA 2014, as oracle/oracle.h
BOHR_ANGSTROM = 0.52917721067


class ConvergenceFailure(RuntimeError):
    """The SCF did not converge (the class name contains 'Convergence')."""


def _child(conn, fn, args):
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # everything goes back to the parent
        conn.send(("error", "%s: %s" % (type(exc).__name__, exc), type(exc).__name__))
    finally:
        conn.close()


def run_with_time_limit(fn, args, time_limit, after=None):
    if not time_limit or time_limit <= 0:
        return fn(*args)
    ctx = _mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(time_limit):
            proc.kill()
            raise TimeoutError("exceeded the time limit of %g s" % time_limit)
        msg = parent.recv()
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
        if after:
            after(proc.pid)
    if msg[0] == "ok":
        return msg[1]
    if "Convergence" in msg[2]:
        raise ConvergenceFailure(msg[1])
    raise RuntimeError(msg[1])
