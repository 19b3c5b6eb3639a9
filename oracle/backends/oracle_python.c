/* oracle_python.c — "python": any Python function as an energy/force oracle.
 *
 * The function named by options.python_module / options.python_function
 * (default "evaluate") is called per molecule as
 *
 *   fn(Z: np.ndarray int32 (n,), R: np.ndarray float64 (n,3) Å, charge: int,
 *      multiplicity: int, options: dict) -> (energy_eV: float, forces: (n,3) eV/Å)
 *
 * or, if the function has an attribute `batched = True`, once per batch as
 * fn(Zs: list, Rs: list, charges: list, multiplicities: list, options) ->
 * (energies, forces_list); a batch that raises is retried molecule by
 * molecule (as one-molecule batches) so one bad molecule cannot sink the rest.
 *
 * An exception for one molecule flags it (TimeoutError → ELIGN_MOL_TIMEOUT,
 * an exception whose class name contains "Convergence" → NOT_CONVERGED,
 * anything else → BACKEND_ERROR); the first message of each instance is
 * logged. options = {"method", "basis", "time_limit", "threads",
 * "scratch_dir", "rank", "model", "model_dir", "max_iterations"} (unset ones
 * omitted).
 *
 * The interpreter is Debian's (ELIGN_PYTHON_EXECUTABLE, so dist-packages are
 * found), initialised once per process and never finalised (NumPy and psi4
 * do not survive re-initialisation). Signal handlers stay with the host
 * (MPI, our CLI). Every entry takes the GIL, so any one thread may call.
 * The small glue that converts buffers to arrays lives in Python (below);
 * no NumPy C headers are needed.
 */
#include "oracle/oracle_backends.h"

#ifdef ELIGN_WITH_PYTHON

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "common/base/log.h"
#include "common/base/provenance.h"

/* ELIGN_PYTHON_EXECUTABLE: the interpreter CMake pinned (Python3_EXECUTABLE);
 * ELIGN_PYTHON_EXTRA_PATH: a directory CMake probed (psi4's package on
 * Debian, ELIGN_PSI4_PYTHONPATH), appended to sys.path. */
#ifndef ELIGN_PYTHON_EXECUTABLE
#define ELIGN_PYTHON_EXECUTABLE "python3"
#endif

/* Glue run once in a private namespace. _call returns (energy, forces bytes);
 * _call_batch returns a list of per-molecule (energy, bytes) or exception. */
static const char python_glue[] =
    "import numpy as _np\n"
    "def _arrays(Zb, Rb, n):\n"
    "    Z = _np.frombuffer(Zb, dtype=_np.int32).copy()\n"
    "    R = _np.frombuffer(Rb, dtype=_np.float64).reshape(n, 3).copy()\n"
    "    return Z, R\n"
    "def _pack(e, f, n):\n"
    "    f = _np.ascontiguousarray(f, dtype=_np.float64)\n"
    "    if f.size != 3 * n:\n"
    "        raise ValueError('oracle returned forces of shape %s for %d atoms' % (f.shape, n))\n"
    "    return float(e), f.reshape(-1).tobytes()\n"
    "def _call(fn, Zb, Rb, n, charge, mult, options):\n"
    "    Z, R = _arrays(Zb, Rb, n)\n"
    "    out = fn(Z, R, int(charge), int(mult), options)\n"
    "    return _pack(out[0], out[1], n)\n"
    "def _call_batch(fn, mols, options):\n"
    "    arrs = [_arrays(Zb, Rb, n) for (Zb, Rb, n, c, m) in mols]\n"
    "    try:\n"
    "        es, fs = fn([a[0] for a in arrs], [a[1] for a in arrs], [int(x[3]) for x in mols],\n"
    "                    [int(x[4]) for x in mols], options)\n"
    "        return [_pack(es[k], fs[k], mols[k][2]) for k in range(len(mols))]\n"
    "    except Exception:\n"
    "        if len(mols) == 1:\n"
    "            raise\n"
    "    out = []\n"
    "    for k in range(len(mols)):\n"
    "        try:\n"
    "            out.append(_call_batch(fn, [mols[k]], options)[0])\n"
    "        except Exception as exc:\n"
    "            out.append(exc)\n"
    "    return out\n";

typedef struct {
  PyObject *fn;      /* the user's function */
  PyObject *options; /* dict passed to every call */
  PyObject *call;    /* glue _call */
  PyObject *call_batch;
  int batched;
  char label[256];   /* "module.function" for messages */
  int warned;
} python_state;

/* ------------------------------------------------------- interpreter setup */

/* Provenance (common/base/provenance.h): an adapter names the versions of
 * what it runs on in a module-level dict ELIGN_PROVENANCE_VERSIONS
 * ({"psi4": psi4.__version__, ...}); the interpreter's own version too. */
static void record_versions(PyObject *module) {
  elign_provenance_set_version("python", Py_GetVersion());
  PyObject *d = PyObject_GetAttrString(module, "ELIGN_PROVENANCE_VERSIONS");
  if (d && PyDict_Check(d)) {
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
      PyObject *ks = PyObject_Str(k), *vs = PyObject_Str(v);
      const char *kc = ks ? PyUnicode_AsUTF8(ks) : NULL, *vc = vs ? PyUnicode_AsUTF8(vs) : NULL;
      if (kc && vc) elign_provenance_set_version(kc, vc);
      Py_XDECREF(ks);
      Py_XDECREF(vs);
    }
  }
  Py_XDECREF(d);
  PyErr_Clear();
}

static elign_status python_start(elign_error *err) {
  if (Py_IsInitialized()) return ELIGN_OK; /* a host that already runs Python (or a previous create) */
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  /* Pretend to be Debian's interpreter so prefix, stdlib and dist-packages
   * resolve as they do for that interpreter (not our binary's directory). */
  PyStatus ps = PyConfig_SetBytesString(&config, &config.program_name, ELIGN_PYTHON_EXECUTABLE);
  if (!PyStatus_Exception(ps)) ps = PyConfig_SetBytesString(&config, &config.executable, ELIGN_PYTHON_EXECUTABLE);
  config.install_signal_handlers = 0; /* SIGINT etc. stay with the host */
  config.parse_argv = 0;
  config.buffered_stdio = 0;
  if (!PyStatus_Exception(ps)) ps = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(ps))
    return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "python backend: cannot initialise Python (%s): %s",
                      ELIGN_PYTHON_EXECUTABLE, ps.err_msg ? ps.err_msg : "unknown error");
#ifdef ELIGN_PYTHON_EXTRA_PATH
  PyObject *sys_path = PySys_GetObject("path"); /* borrowed */
  if (sys_path) {
    PyObject *dir = PyUnicode_FromString(ELIGN_PYTHON_EXTRA_PATH);
    if (dir) {
      if (!PySequence_Contains(sys_path, dir)) PyList_Append(sys_path, dir);
      Py_DECREF(dir);
    }
  }
  PyErr_Clear();
#endif
  /* Release the GIL: every later entry takes it with PyGILState_Ensure. */
  PyEval_SaveThread();
  return ELIGN_OK;
}

/* "Type: message" of the pending exception (clears it). */
static void python_take_exception(char *buf, size_t size, int *is_timeout, int *is_convergence) {
  PyObject *type = NULL, *value = NULL, *tb = NULL;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  const char *tname = type ? ((PyTypeObject *)type)->tp_name : "Exception";
  PyObject *s = value ? PyObject_Str(value) : NULL;
  const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
  snprintf(buf, size, "%s: %s", tname, msg ? msg : "(no message)");
  if (is_timeout) *is_timeout = type && PyErr_GivenExceptionMatches(type, PyExc_TimeoutError);
  if (is_convergence) *is_convergence = strstr(tname, "Convergence") != NULL;
  Py_XDECREF(s);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
}

static void python_prepend_paths(const char *paths) {
  PyObject *sys_path = PySys_GetObject("path");
  if (!sys_path || !paths) return;
  char *copy = elign_strdup(paths, "oracle_python:path");
  /* Insert in reverse so "a:b" ends up as [a, b, ...]. */
  char *parts[64];
  int n = 0;
  for (char *tok = strtok(copy, ":"); tok && n < 64; tok = strtok(NULL, ":"))
    if (tok[0]) parts[n++] = tok;
  for (int k = n - 1; k >= 0; k--) {
    PyObject *dir = PyUnicode_FromString(parts[k]);
    if (dir) {
      /* Front of the list, once: a second instance with the same path adds nothing. */
      Py_ssize_t at = PySequence_Index(sys_path, dir);
      if (at < 0) PyErr_Clear();
      if (at > 0) PySequence_DelItem(sys_path, at);
      if (at != 0) PyList_Insert(sys_path, 0, dir);
      Py_DECREF(dir);
    }
  }
  free(copy);
  PyErr_Clear();
}

static void python_dict_set_string(PyObject *d, const char *key, const char *value) {
  if (!value) return;
  PyObject *v = PyUnicode_FromString(value);
  if (v) {
    PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
  }
}

static void python_dict_set_double(PyObject *d, const char *key, double value) {
  PyObject *v = PyFloat_FromDouble(value);
  if (v) {
    PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
  }
}

static void python_dict_set_int(PyObject *d, const char *key, long value) {
  PyObject *v = PyLong_FromLong(value);
  if (v) {
    PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
  }
}

static void python_state_free(python_state *s) {
  if (!s) return;
  Py_XDECREF(s->fn);
  Py_XDECREF(s->options);
  Py_XDECREF(s->call);
  Py_XDECREF(s->call_batch);
  free(s);
}

/* -------------------------------------------------------------- lifecycle */

static elign_status python_create(const elign_oracle_options *opt, void **state, elign_error *err) {
  if (!opt->python_module || !opt->python_module[0])
    return ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "python backend: oracle.python_module is not set");
  const char *fname = opt->python_function && opt->python_function[0] ? opt->python_function : "evaluate";
  elign_status st = python_start(err);
  if (st != ELIGN_OK) return st;

  PyGILState_STATE gil = PyGILState_Ensure();
  python_state *s = elign_calloc(1, sizeof *s, "oracle_python:state");
  snprintf(s->label, sizeof s->label, "%s.%s", opt->python_module, fname);
  char why[768];
  python_prepend_paths(opt->python_path);

  PyObject *module = PyImport_ImportModule(opt->python_module);
  if (!module) {
    python_take_exception(why, sizeof why, NULL, NULL);
    st = ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "python backend: cannot import module '%s' (%s); set oracle.python_path",
                    opt->python_module, why);
    goto fail;
  }
  s->fn = PyObject_GetAttrString(module, fname);
  record_versions(module);
  Py_DECREF(module);
  if (!s->fn || !PyCallable_Check(s->fn)) {
    PyErr_Clear();
    st = ELIGN_FAIL(err, ELIGN_ERR_CONFIG, "python backend: module '%s' has no function '%s' (oracle.python_function)",
                    opt->python_module, fname);
    goto fail;
  }
  PyObject *flag = PyObject_GetAttrString(s->fn, "batched");
  s->batched = flag ? PyObject_IsTrue(flag) == 1 : 0;
  Py_XDECREF(flag);
  PyErr_Clear();

  PyObject *ns = PyDict_New();
  PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins());
  PyObject *r = PyRun_String(python_glue, Py_file_input, ns, ns);
  if (!r) {
    python_take_exception(why, sizeof why, NULL, NULL);
    Py_DECREF(ns);
    st = ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "python backend: cannot set up the NumPy glue (%s)", why);
    elign_error_hint(err, "the embedded interpreter %s needs numpy (python3-numpy)", ELIGN_PYTHON_EXECUTABLE);
    goto fail;
  }
  Py_DECREF(r);
  s->call = PyDict_GetItemString(ns, "_call");
  s->call_batch = PyDict_GetItemString(ns, "_call_batch");
  Py_XINCREF(s->call);
  Py_XINCREF(s->call_batch);
  Py_DECREF(ns);

  s->options = PyDict_New();
  python_dict_set_string(s->options, "method", opt->method);
  python_dict_set_string(s->options, "basis", opt->basis);
  python_dict_set_string(s->options, "scratch_dir", opt->scratch_dir);
  python_dict_set_string(s->options, "model", opt->model);
  python_dict_set_string(s->options, "model_dir", opt->model_dir);
  python_dict_set_double(s->options, "time_limit", opt->time_limit);
  python_dict_set_int(s->options, "threads", opt->threads);
  python_dict_set_int(s->options, "rank", opt->rank);
  if (opt->max_iterations > 0) python_dict_set_int(s->options, "max_iterations", opt->max_iterations);
  PyErr_Clear();
  PyGILState_Release(gil);
  *state = s;
  return ELIGN_OK;

fail:
  python_state_free(s);
  PyGILState_Release(gil);
  return st;
}

static void python_destroy(void *state) {
  if (!state || !Py_IsInitialized()) return;
  PyGILState_STATE gil = PyGILState_Ensure();
  python_state_free(state);
  PyGILState_Release(gil);
}

/* ------------------------------------------------------------- evaluation */

/* Classify and log (first one per instance) the pending exception of molecule m. */
static elign_mol_status python_flag_exception(python_state *s, int64_t m) {
  char why[768];
  int timeout = 0, convergence = 0;
  python_take_exception(why, sizeof why, &timeout, &convergence);
  elign_mol_status flag = timeout ? ELIGN_MOL_TIMEOUT : convergence ? ELIGN_MOL_NOT_CONVERGED : ELIGN_MOL_BACKEND_ERROR;
  if (!s->warned) {
    elign_warn("python oracle %s: molecule %lld flagged (%s): %s (further exceptions logged at debug level)", s->label,
               (long long)m, elign_mol_status_string(flag), why);
    s->warned = 1;
  } else {
    elign_debug("python oracle %s: molecule %lld: %s", s->label, (long long)m, why);
  }
  return flag;
}

/* Unpack (energy, forces-bytes) for molecule m of n atoms; steals nothing. */
static elign_mol_status python_unpack(python_state *s, int64_t m, PyObject *out, int64_t n, double *energy,
                                      double *forces) {
  PyObject *e = NULL, *fb = NULL;
  if (!PyTuple_Check(out) || PyTuple_Size(out) != 2) {
    PyErr_SetString(PyExc_TypeError, "glue returned no (energy, forces) pair");
    return python_flag_exception(s, m);
  }
  e = PyTuple_GetItem(out, 0);
  fb = PyTuple_GetItem(out, 1);
  double ev = PyFloat_AsDouble(e);
  if (PyErr_Occurred()) return python_flag_exception(s, m);
  char *bytes = NULL;
  Py_ssize_t len = 0;
  if (PyBytes_AsStringAndSize(fb, &bytes, &len) != 0) return python_flag_exception(s, m);
  if (len != (Py_ssize_t)(3 * n * (int64_t)sizeof(double))) {
    PyErr_SetString(PyExc_ValueError, "forces have the wrong size");
    return python_flag_exception(s, m);
  }
  *energy = ev;
  if (forces) memcpy(forces, bytes, (size_t)len);
  return ELIGN_MOL_OK;
}

static PyObject *python_molecule_args(const elign_oracle_batch *batch, int64_t m) {
  int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
  return Py_BuildValue("(y#y#Lii)", (const char *)(batch->Z + a0), (Py_ssize_t)(n * (int64_t)sizeof(int32_t)),
                       (const char *)(batch->pos + 3 * a0), (Py_ssize_t)(3 * n * (int64_t)sizeof(double)), (long long)n,
                       batch->charge ? batch->charge[m] : 0, batch->multiplicity ? batch->multiplicity[m] : 1);
}

static elign_status python_evaluate(void *state, const elign_oracle_batch *batch, elign_oracle_result *result,
                                    elign_error *err) {
  python_state *s = state;
  PyGILState_STATE gil = PyGILState_Ensure();
  for (int64_t m = 0; m < batch->n_mol; m++) {
    result->energy[m] = 0.0;
    result->status[m] = ELIGN_MOL_OK;
  }
  if (!s->batched) {
    for (int64_t m = 0; m < batch->n_mol; m++) {
      int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
      PyObject *mol = python_molecule_args(batch, m);
      PyObject *out = mol ? PyObject_CallFunction(s->call, "OOOOOOO", s->fn, PyTuple_GetItem(mol, 0),
                                                  PyTuple_GetItem(mol, 1), PyTuple_GetItem(mol, 2),
                                                  PyTuple_GetItem(mol, 3), PyTuple_GetItem(mol, 4), s->options)
                          : NULL;
      if (!out)
        result->status[m] = python_flag_exception(s, m);
      else
        result->status[m] = python_unpack(s, m, out, n, &result->energy[m], result->forces ? result->forces + 3 * a0 : NULL);
      Py_XDECREF(out);
      Py_XDECREF(mol);
    }
  } else {
    PyObject *mols = PyList_New(0);
    for (int64_t m = 0; m < batch->n_mol; m++) {
      PyObject *mol = python_molecule_args(batch, m);
      if (mol) {
        PyList_Append(mols, mol);
        Py_DECREF(mol);
      }
    }
    PyObject *outs = PyObject_CallFunctionObjArgs(s->call_batch, s->fn, mols, s->options, NULL);
    Py_DECREF(mols);
    for (int64_t m = 0; m < batch->n_mol; m++) {
      int64_t a0 = batch->offsets[m], n = batch->offsets[m + 1] - a0;
      if (!outs) { /* the glue itself failed: nothing to attribute per molecule */
        char why[768];
        python_take_exception(why, sizeof why, NULL, NULL);
        PyGILState_Release(gil);
        return ELIGN_FAIL(err, ELIGN_ERR_BACKEND, "python oracle %s: batched call failed: %s", s->label, why);
      }
      PyObject *item = PyList_GetItem(outs, (Py_ssize_t)m);
      if (item && PyExceptionInstance_Check(item)) {
        PyErr_SetObject((PyObject *)Py_TYPE(item), item);
        result->status[m] = python_flag_exception(s, m);
      } else if (item) {
        result->status[m] = python_unpack(s, m, item, n, &result->energy[m], result->forces ? result->forces + 3 * a0 : NULL);
      } else {
        result->status[m] = python_flag_exception(s, m);
      }
    }
    Py_XDECREF(outs);
  }
  PyGILState_Release(gil);
  return ELIGN_OK;
}

#define PYTHON_CREATE python_create
#define PYTHON_EVALUATE python_evaluate
#define PYTHON_DESTROY python_destroy

#else /* !ELIGN_WITH_PYTHON */

static elign_status python_not_built(const elign_oracle_options *opt, void **state, elign_error *err) {
  return elign_oracle_fail_not_built(state, "python oracle backend", "python3-dev", "embedded Python ... enabled", err);
}
static elign_status python_unavailable_evaluate(void *state, const elign_oracle_batch *batch,
                                                elign_oracle_result *result, elign_error *err) {
  return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "python oracle backend not built");
}
#define PYTHON_CREATE python_not_built
#define PYTHON_EVALUATE python_unavailable_evaluate
#define PYTHON_DESTROY NULL

#endif

const elign_oracle_backend elign_oracle_python_backend = {
    .name = "python",
    .summary = "a Python function fn(Z, R, charge, multiplicity, options) -> (E eV, F eV/A), e.g. psi4/PySCF/UMA adapters",
    .create = PYTHON_CREATE,
    .supports = NULL, /* the function decides; a failure flags the molecule */
    .evaluate = PYTHON_EVALUATE,
    .destroy = PYTHON_DESTROY,
    .default_min_distance = ELIGN_ORACLE_DEFAULT_MIN_DISTANCE,
};
