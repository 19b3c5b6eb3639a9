/* cmd_oracle.c — `elign oracle`: energies and forces of molecules from a file.
 *
 * One process: the oracle is embedded (evaluated in-process).
 * Under mpirun with S ranks: rank 0 reads the input, sends chunks of
 * --batch molecules round-robin to ranks 1..S-1, which run the batching
 * server (oracle/server.h); rank 0 prints the table and writes the file.
 * Both paths go through the same client API (oracle/client.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <zlib.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/molset.h"
#include "oracle/client.h"
#include "oracle/oracle.h"
#include "oracle/server.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: elign oracle --backend NAME --in MOLS [--out RESULTS.h5] [options]\n"
          "\n"
          "Evaluate energies (eV) and forces (eV/Å) of every molecule in MOLS with an\n"
          "oracle backend; print a table (index, formula, energy, max |F|, RMS F, status)\n"
          "and optionally write an HDF5 oracle_results file (energy, forces, status).\n"
          "\n"
          "  --backend NAME          oracle backend (e.g. lj, ani, gfn2-xtb, gfn-ff, python)\n"
          "  --in PATH               molecules: extended XYZ (.xyz, .xyz.gz)\n"
          "  --out PATH              write results here (HDF5); omitted: table only\n"
          "  --batch N               molecules per oracle batch (oracle.batch_size; default 64)\n"
          "  --model-dir DIR         ANI: the model-zoo directory (holds resources/...)\n"
          "  --model NAME            ANI: ani-2x (default), ani-1x, ani-1ccx\n"
          "  --scratch DIR           per-rank scratch directory (xtb, DFT)\n"
          "  --python-module M       python backend: module name\n"
          "  --python-function F     python backend: function name\n"
          "  --python-path DIR       python backend: extra sys.path entry\n"
          "  --min-distance D        Å: closer atom pairs are flagged 'overlap' (0 = backend default)\n"
          "  --no-table              do not print the per-molecule table\n"
          "\n"
          "Under mpirun -np S (S >= 2), rank 0 reads and distributes and ranks 1..S-1\n"
          "serve as oracle ranks; with one process the oracle runs in-process.\n");
}

typedef struct {
  const char *backend, *in, *out;
  int batch;
  int table;
  elign_oracle_options opt;
} oracle_args;

/* 0 ok, 1 help shown, 2 usage error (message printed on rank 0 only). */
static int parse_args(int argc, char **argv, oracle_args *a, int verbose) {
  memset(a, 0, sizeof *a);
  a->batch = 64;
  a->table = 1;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (elign_cli_is_help(k)) {
      if (verbose) usage(stdout);
      return 1;
    }
    if (strcmp(k, "--no-table") == 0) {
      a->table = 0;
      continue;
    }
    const char **slot = strcmp(k, "--backend") == 0           ? &a->backend
                        : strcmp(k, "--in") == 0              ? &a->in
                        : strcmp(k, "--out") == 0             ? &a->out
                        : strcmp(k, "--model-dir") == 0       ? &a->opt.model_dir
                        : strcmp(k, "--model") == 0           ? &a->opt.model
                        : strcmp(k, "--scratch") == 0         ? &a->opt.scratch_dir
                        : strcmp(k, "--python-module") == 0   ? &a->opt.python_module
                        : strcmp(k, "--python-function") == 0 ? &a->opt.python_function
                        : strcmp(k, "--python-path") == 0     ? &a->opt.python_path
                                                              : NULL;
    int is_number = strcmp(k, "--batch") == 0 || strcmp(k, "--min-distance") == 0;
    if (!slot && !is_number) {
      if (verbose) fprintf(stderr, "elign oracle: unknown option '%s' (see `elign oracle --help`)\n", k);
      return 2;
    }
    if (i + 1 >= argc) {
      if (verbose) fprintf(stderr, "elign oracle: %s needs a value\n", k);
      return 2;
    }
    const char *v = argv[++i];
    if (slot) {
      *slot = v;
      continue;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    int bad = *end != '\0' || end == v || errno != 0;
    if (strcmp(k, "--batch") == 0) {
      if (bad || d < 1 || d > 1e7 || d != floor(d)) {
        if (verbose) fprintf(stderr, "elign oracle: --batch '%s': want a positive integer\n", v);
        return 2;
      }
      a->batch = (int)d;
    } else {
      if (bad) {
        if (verbose) fprintf(stderr, "elign oracle: --min-distance '%s': want a number (Å)\n", v);
        return 2;
      }
      a->opt.min_distance = d;
    }
  }
  if (!a->backend || !a->in) {
    if (verbose) fprintf(stderr, "elign oracle: --backend and --in are required (see `elign oracle --help`)\n");
    return 2;
  }
  return 0;
}

/* ===========================================================================
 * INTERIM I/O — replaced by the h5data branch's common/importers.h reader and
 * common/dataset_io.h elign_oracle_results_write once that branch is merged.
 * Keep everything below this line and above the matching END marker
 * self-contained so the swap is one block.
 * ======================================================================== */

static const char *const interim_symbols[] = {
    "",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si", "P",  "S",
    "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
    "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho",
    "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",  "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po",
    "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md",
    "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};

static int interim_element(const char *sym) {
  for (int z = 1; z <= 118; z++)
    if (strcmp(sym, interim_symbols[z]) == 0) return z;
  return 0;
}

static void interim_append(elign_molset *s, int n, const int32_t *Z, const double *pos) {
  s->offsets = elign_realloc(s->offsets, (size_t)(s->n_mol + 2) * sizeof *s->offsets, "cmd_oracle:offsets");
  if (s->n_mol == 0) s->offsets[0] = 0;
  s->Z = elign_realloc(s->Z, (size_t)(s->n_atoms + n + 1) * sizeof *s->Z, "cmd_oracle:Z");
  s->pos = elign_realloc(s->pos, 3 * (size_t)(s->n_atoms + n + 1) * sizeof *s->pos, "cmd_oracle:pos");
  memcpy(s->Z + s->n_atoms, Z, (size_t)n * sizeof *Z);
  memcpy(s->pos + 3 * s->n_atoms, pos, 3 * (size_t)n * sizeof *pos);
  s->n_atoms += n;
  s->offsets[++s->n_mol] = s->n_atoms;
}

static void interim_free(elign_molset *s) {
  elign_free(s->offsets);
  elign_free(s->Z);
  elign_free(s->pos);
  memset(s, 0, sizeof *s);
}

/* (Extended) XYZ, plain or gzip (zlib reads both): count, comment, `El x y z ...` lines. */
static elign_status interim_read_xyz(const char *path, elign_molset *s, elign_error *err) {
  memset(s, 0, sizeof *s);
  gzFile f = gzopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
  char line[4096];
  long lineno = 0;
  int32_t *Z = NULL;
  double *pos = NULL;
  elign_status st = ELIGN_OK;
  while (gzgets(f, line, sizeof line)) {
    lineno++;
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\n' || *p == '\r' || *p == '\0') continue; /* blank lines between molecules */
    char *end;
    long n = strtol(p, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
    if (*end != '\0' || n < 0 || n > 100000) {
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (line %ld): expected an atom count, got '%.60s'", path,
                      (long long)s->n_mol + 1, lineno, p);
      break;
    }
    if (!gzgets(f, line, sizeof line)) { /* comment line */
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld: file ends after the atom count", path,
                      (long long)s->n_mol + 1);
      break;
    }
    lineno++;
    Z = elign_realloc(Z, (size_t)(n + 1) * sizeof *Z, "cmd_oracle:xyz_Z");
    pos = elign_realloc(pos, 3 * (size_t)(n + 1) * sizeof *pos, "cmd_oracle:xyz_pos");
    for (long i = 0; i < n && st == ELIGN_OK; i++) {
      char sym[8];
      double x, y, z;
      if (!gzgets(f, line, sizeof line)) {
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld: file ends after %ld of %ld atoms", path,
                        (long long)s->n_mol + 1, i, n);
        break;
      }
      lineno++;
      line[strcspn(line, "\r\n")] = '\0';
      if (sscanf(line, "%7s %lf %lf %lf", sym, &x, &y, &z) != 4 || !(Z[i] = interim_element(sym))) {
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecule %lld (line %ld): bad atom line '%.80s'", path,
                        (long long)s->n_mol + 1, lineno, line);
        break;
      }
      pos[3 * i] = x;
      pos[3 * i + 1] = y;
      pos[3 * i + 2] = z;
    }
    if (st != ELIGN_OK) break;
    interim_append(s, (int)n, Z, pos);
  }
  int zerr = 0;
  const char *zmsg = gzerror(f, &zerr);
  if (st == ELIGN_OK && zerr != Z_OK && zerr != Z_STREAM_END)
    st = ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: read error: %s", path, zmsg);
  gzclose(f);
  free(Z);
  free(pos);
  if (st == ELIGN_OK && s->n_mol == 0) st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no molecules", path);
  if (st != ELIGN_OK) interim_free(s);
  return st;
}

static void interim_formula(const elign_molset *s, int64_t m, char *buf, int len) {
  int count[119] = {0};
  for (int64_t i = s->offsets[m]; i < s->offsets[m + 1]; i++)
    if (s->Z[i] >= 1 && s->Z[i] <= 118) count[s->Z[i]]++;
  /* Hill order: C, H, then alphabetical; without carbon all alphabetical */
  int order[119], n = 0;
  if (count[6]) order[n++] = 6;
  if (count[6] && count[1]) order[n++] = 1;
  for (;;) {
    int best = 0;
    for (int z = 1; z <= 118; z++) {
      if (!count[z] || (count[6] && (z == 6 || z == 1))) continue;
      int used = 0;
      for (int k = 0; k < n; k++) used |= order[k] == z;
      if (!used && (!best || strcmp(interim_symbols[z], interim_symbols[best]) < 0)) best = z;
    }
    if (!best) break;
    order[n++] = best;
  }
  int at = 0;
  buf[0] = '\0';
  for (int k = 0; k < n && at < len; k++)
    at += count[order[k]] > 1 ? snprintf(buf + at, (size_t)(len - at), "%s%d", interim_symbols[order[k]], count[order[k]])
                              : snprintf(buf + at, (size_t)(len - at), "%s", interim_symbols[order[k]]);
  if (n == 0) snprintf(buf, (size_t)len, "(empty)");
}

static int interim_h5_write(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims,
                            const void *data) {
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t set = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int ok = set >= 0 && (dims[0] == 0 || H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  if (set >= 0) H5Dclose(set);
  H5Sclose(space);
  return ok;
}

static int interim_h5_attr(hid_t file, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, strlen(value) + 1);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, type, value) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  return ok;
}

/* oracle_results layout (docs/formats.md): /offsets, /atomic_numbers,
 * /positions (Å), /energy (eV), /forces (eV/Å), /status; root attributes
 * format = "oracle_results", version, oracle. Written to PATH.tmp, renamed. */
static elign_status interim_write_results(const char *path, const elign_molset *s, const int32_t *status,
                                          const char *oracle_name, elign_error *err) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  H5E_auto2_t old_func;
  void *old_data;
  H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our message, not HDF5's stack dump */
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  int ok = f >= 0;
  if (ok) {
    hsize_t d_off = (hsize_t)s->n_mol + 1, d_mol = (hsize_t)s->n_mol, d_atoms[2] = {(hsize_t)s->n_atoms, 3};
    char version[16];
    snprintf(version, sizeof version, "%d", 1);
    ok = interim_h5_write(f, "offsets", H5T_NATIVE_INT64, 1, &d_off, s->offsets) &&
         interim_h5_write(f, "atomic_numbers", H5T_NATIVE_INT32, 1, d_atoms, s->Z) &&
         interim_h5_write(f, "positions", H5T_NATIVE_DOUBLE, 2, d_atoms, s->pos) &&
         interim_h5_write(f, "energy", H5T_NATIVE_DOUBLE, 1, &d_mol, s->energy) &&
         interim_h5_write(f, "forces", H5T_NATIVE_DOUBLE, 2, d_atoms, s->forces) &&
         interim_h5_write(f, "status", H5T_NATIVE_INT32, 1, &d_mol, status) &&
         interim_h5_attr(f, "format", "oracle_results") && interim_h5_attr(f, "version", version) &&
         interim_h5_attr(f, "oracle", oracle_name);
    ok = H5Fclose(f) >= 0 && ok;
  }
  H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
  if (!ok) {
    remove(tmp);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot write HDF5 file", tmp);
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
  }
  return ELIGN_OK;
}

/* ====================== END OF INTERIM I/O ============================== */

/* Send every molecule through the client in chunks of `batch`, keeping at
 * most `window` requests in flight; results land in s->energy / s->forces. */
static elign_status evaluate_all(elign_oracle_client *c, elign_molset *s, int32_t *status, int batch, int window,
                                 elign_error *err) {
  int64_t n_chunks = (s->n_mol + batch - 1) / batch;
  uint64_t *ids = elign_malloc((size_t)n_chunks * sizeof *ids + 1, "cmd_oracle:ids");
  int64_t *off = elign_malloc((size_t)(batch + 1) * sizeof *off, "cmd_oracle:chunk_off");
  elign_mol_status *st = elign_malloc((size_t)batch * sizeof *st, "cmd_oracle:chunk_status");
  elign_status rc = ELIGN_OK;
  int64_t waited = 0;
  for (int64_t k = 0; k <= n_chunks && rc == ELIGN_OK; k++) {
    /* wait for the oldest chunk when the window is full or everything is sent */
    while (rc == ELIGN_OK && waited < k && (k - waited >= window || k == n_chunks)) {
      int64_t m0 = waited * batch, n = s->n_mol - m0 < batch ? s->n_mol - m0 : batch;
      elign_oracle_result res = {.energy = s->energy + m0, .forces = s->forces + 3 * s->offsets[m0], .status = st};
      rc = elign_oracle_client_wait(c, ids[waited], &res, err);
      for (int64_t i = 0; i < n; i++) status[m0 + i] = (int32_t)st[i];
      waited++;
    }
    if (k == n_chunks || rc != ELIGN_OK) break;
    int64_t m0 = k * batch, n = s->n_mol - m0 < batch ? s->n_mol - m0 : batch, a0 = s->offsets[m0];
    for (int64_t i = 0; i <= n; i++) off[i] = s->offsets[m0 + i] - a0;
    elign_oracle_batch b = {.n_mol = n, .offsets = off, .Z = s->Z + a0, .pos = s->pos + 3 * a0};
    rc = elign_oracle_client_submit(c, &b, 1, &ids[k], err);
  }
  free(ids);
  free(off);
  free(st);
  return rc;
}

static void print_table(const elign_molset *s, const int32_t *status) {
  printf("%6s  %-16s %16s %14s %14s  %s\n", "index", "formula", "energy/eV", "max|F|/eV/Å", "rms F/eV/Å", "status");
  for (int64_t m = 0; m < s->n_mol; m++) {
    char formula[64];
    interim_formula(s, m, formula, sizeof formula);
    int64_t a0 = s->offsets[m], n = s->offsets[m + 1] - a0;
    double fmax = 0, sum2 = 0;
    for (int64_t i = 0; i < n; i++) {
      const double *f = s->forces + 3 * (a0 + i);
      double f2 = f[0] * f[0] + f[1] * f[1] + f[2] * f[2];
      sum2 += f2;
      if (sqrt(f2) > fmax) fmax = sqrt(f2);
    }
    double rms = n ? sqrt(sum2 / (3.0 * (double)n)) : 0.0; /* RMS over the 3N force components */
    if (status[m] == ELIGN_MOL_OK)
      printf("%6lld  %-16s %16.6f %14.6f %14.6f  %s\n", (long long)m, formula, s->energy[m], fmax, rms,
             elign_mol_status_string((elign_mol_status)status[m]));
    else
      printf("%6lld  %-16s %16s %14s %14s  %s\n", (long long)m, formula, "-", "-", "-",
             elign_mol_status_string((elign_mol_status)status[m]));
  }
}

/* The lowest failing rank's message reaches rank 0, which prints it; every
 * rank returns the same verdict. */
static int agree_or_print(MPI_Comm comm, int rank, elign_error *err) {
  int mine = err->status != ELIGN_OK ? rank : 1 << 30, first;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == 1 << 30) return 0;
  if (first != 0) { /* ship the message to rank 0 */
    if (rank == first) MPI_Send(err, (int)sizeof *err, MPI_BYTE, 0, 1, comm);
    if (rank == 0) {
      MPI_Recv(err, (int)sizeof *err, MPI_BYTE, first, 1, comm, MPI_STATUS_IGNORE);
      err->src_file = NULL;
      elign_error_prefix(err, "rank %d: ", first);
    }
  }
  if (rank == 0) elign_error_print(err);
  return 1;
}

int oracle_main(int argc, char **argv) {
  int started_mpi = 0, mpi_on = 0;
  MPI_Initialized(&mpi_on);
  if (!mpi_on) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    started_mpi = 1;
  }
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  elign_log_set_rank(rank);

  oracle_args a;
  int rc = parse_args(argc, argv, &a, rank == 0);
  rc = rc == 1 ? ELIGN_EXIT_OK : rc == 2 ? ELIGN_EXIT_USAGE : -1;
  elign_error err;
  elign_error_clear(&err);
  elign_molset mols = {0};
  int32_t *status = NULL;
  elign_oracle *oracle = NULL;
  elign_oracle_client *client = NULL;
  if (rc >= 0) goto out;

  /* 1. rank 0 reads; everyone learns whether that worked */
  if (rank == 0) interim_read_xyz(a.in, &mols, &err);
  if (agree_or_print(comm, rank, &err)) {
    rc = ELIGN_EXIT_FAIL;
    goto out;
  }
  /* 2. the oracle: rank 0 always (validates the options, and evaluates when
   * alone), ranks 1.. as servers */
  a.opt.rank = rank;
  elign_oracle_create(a.backend, &a.opt, &oracle, &err);
  if (agree_or_print(comm, rank, &err)) {
    rc = ELIGN_EXIT_FAIL;
    goto out;
  }
  if (rank > 0) {
    elign_oracle_server_options so = {.batch_size = a.batch, .n_clients = 1};
    elign_oracle_server_stats stats;
    rc = elign_oracle_server_run(oracle, comm, &so, &stats, &err) == ELIGN_OK ? ELIGN_EXIT_OK : elign_cli_fail(&err);
    if (rc == ELIGN_EXIT_OK) elign_oracle_server_stats_log(&stats, a.batch);
    goto out;
  }

  /* 3. rank 0: evaluate through the client, print, write */
  if (size == 1) {
    elign_oracle_client_create_embedded(oracle, a.batch, &client, &err);
  } else {
    int *ranks = elign_malloc((size_t)(size - 1) * sizeof *ranks, "cmd_oracle:ranks");
    for (int r = 1; r < size; r++) ranks[r - 1] = r;
    elign_oracle_client_create_mpi(comm, ranks, size - 1, &client, &err);
    free(ranks);
  }
  mols.energy = elign_calloc((size_t)mols.n_mol, sizeof *mols.energy, "cmd_oracle:energy");
  mols.forces = elign_calloc(3 * (size_t)mols.n_atoms, sizeof *mols.forces, "cmd_oracle:forces");
  status = elign_calloc((size_t)mols.n_mol, sizeof *status, "cmd_oracle:status");
  double t0 = elign_wtime();
  elign_status st = evaluate_all(client, &mols, status, a.batch, size == 1 ? 1 : 2 * (size - 1), &err);
  double dt = elign_wtime() - t0;
  elign_error done_err;
  elign_oracle_client_done(client, &done_err); /* always: the servers wait for it */
  if (st != ELIGN_OK) {
    rc = elign_cli_fail(&err);
    goto out;
  }
  if (a.table) print_table(&mols, status);
  int64_t n_ok = 0;
  for (int64_t m = 0; m < mols.n_mol; m++) n_ok += status[m] == ELIGN_MOL_OK;
  elign_info("%s: %lld molecules (%lld ok, %lld flagged) with '%s' in %.3f s on %s", a.in, (long long)mols.n_mol,
             (long long)n_ok, (long long)(mols.n_mol - n_ok), a.backend, dt,
             size == 1 ? "this process" : "oracle ranks");
  if (a.out) {
    if (interim_write_results(a.out, &mols, status, elign_oracle_name(oracle), &err) != ELIGN_OK) {
      rc = elign_cli_fail(&err);
      goto out;
    }
    elign_info("wrote %s", a.out);
  }
  rc = ELIGN_EXIT_OK;

out:
  elign_oracle_client_destroy(&client);
  elign_oracle_destroy(&oracle);
  elign_free(mols.energy);
  elign_free(mols.forces);
  interim_free(&mols);
  elign_free(status);
  MPI_Comm_free(&comm);
  if (started_mpi) MPI_Finalize();
  return rc;
}
