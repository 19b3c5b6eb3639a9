/* cmd_data.c — `elign data import …` and `elign info FILE`. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/io/checkpoint.h"
#include "common/base/cli.h"
#include "common/cmd/commands.h"
#include "common/io/dataset_io.h"
#include "common/io/h5io.h"
#include "common/io/importers.h"
#include "common/base/json.h"
#include "common/base/interrupt.h"
#include "common/base/log.h"
#include "common/base/outputs.h"
#include "common/base/parse.h"
#include "common/chem/stability.h"

/* ---- printing shared by the import report and `info` ----------------------------------------- */

static void print_counts(const elign_molset *s) {
  int64_t mn = s->n_mol ? INT64_MAX : 0, mx = 0;
  for (int64_t m = 0; m < s->n_mol; m++) {
    int64_t n = elign_molset_natoms(s, m);
    if (n < mn) mn = n;
    if (n > mx) mx = n;
  }
  printf("molecules: %lld\n", (long long)s->n_mol);
  printf("atoms: %lld\n", (long long)s->n_atoms);
  printf("atoms per molecule: mean %.2f, min %lld, max %lld\n", s->n_mol ? (double)s->n_atoms / (double)s->n_mol : 0.0,
         (long long)mn, (long long)mx);
}

static void print_element_hist(const elign_hist *h, int64_t n_mol) {
  int64_t total = 0;
  for (int64_t i = 0; i < h->n; i++) total += h->count[i];
  printf("\nelements:\n  %4s %-4s %10s %13s %8s\n", "Z", "sym", "atoms", "per_molecule", "share");
  for (int64_t i = 0; i < h->n; i++)
    printf("  %4lld %-4s %10lld %13.3f %7.2f%%\n", (long long)h->key[i], elign_element_symbol((int)h->key[i]),
           (long long)h->count[i], n_mol ? (double)h->count[i] / (double)n_mol : 0.0,
           total ? 100.0 * (double)h->count[i] / (double)total : 0.0);
}

static void print_count_hist(const char *title, const char *key_name, const elign_hist *h) {
  int64_t total = 0;
  for (int64_t i = 0; i < h->n; i++) total += h->count[i];
  printf("\n%s:\n  %8s %10s %8s\n", title, key_name, "molecules", "share");
  for (int64_t i = 0; i < h->n; i++)
    printf("  %8lld %10lld %7.2f%%\n", (long long)h->key[i], (long long)h->count[i],
           total ? 100.0 * (double)h->count[i] / (double)total : 0.0);
}

static void print_props_and_splits(const elign_dataset *ds) {
  for (int i = 0; i < ds->n_props; i++) {
    const elign_mol_property *p = &ds->props[i];
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    int64_t n = 0;
    for (int64_t m = 0; m < p->n; m++)
      if (!isnan(p->values[m])) {
        sum += p->values[m];
        n++;
        if (p->values[m] < mn) mn = p->values[m];
        if (p->values[m] > mx) mx = p->values[m];
      }
    printf("property %s [%s]: %lld values, mean %.6g, min %.6g, max %.6g\n", p->name, p->unit[0] ? p->unit : "?",
           (long long)n, n ? sum / (double)n : NAN, n ? mn : NAN, n ? mx : NAN);
  }
  for (int i = 0; i < ds->n_splits; i++)
    printf("split %s: %lld molecules\n", ds->splits[i].name, (long long)ds->splits[i].n);
}

static void print_dataset_report(const elign_dataset *ds, const elign_hist *nodes, const elign_hist *elements) {
  if (ds->source[0]) printf("source: %s\n", ds->source);
  print_counts(&ds->mols);
  printf("with SMILES: %s, with ids: %s, with energies: %s, with forces: %s\n", ds->mols.smiles ? "yes" : "no",
         ds->mols.ids ? "yes" : "no", ds->mols.energy ? "yes" : "no", ds->mols.forces ? "yes" : "no");
  print_props_and_splits(ds);
  print_element_hist(elements, ds->mols.n_mol);
  print_count_hist("molecules per atom count (nodes_hist)", "n_atoms", nodes);
  elign_hist heavy;
  elign_molset_heavy_hist(&ds->mols, &heavy);
  print_count_hist("molecules per heavy-atom count", "heavy", &heavy);
  elign_hist_free(&heavy);
}

/* ---- splits ----------------------------------------------------------------------------------- */

typedef struct {
  int64_t id, index;
} id_index;

static int cmp_id_index(const void *a, const void *b) {
  const id_index *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id ? 1 : (x->index > y->index) - (x->index < y->index);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Every array-valued key of the JSON object is a split: a list of molecule
 * ids, stored as the sorted indices of those molecules. */
static elign_status apply_splits(elign_dataset *ds, const char *split_path, elign_error *err) {
  if (!ds->mols.ids)
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "%s: the imported molecules have no ids, so a split cannot refer to them",
                      split_path);
  elign_json root;
  elign_status st = elign_json_parse_file(split_path, &root, err);
  if (st != ELIGN_OK) return st;
  if (root.type != ELIGN_JSON_OBJECT) {
    elign_json_free(&root);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: expected a JSON object of split name → list of ids", split_path);
  }
  int64_t n = ds->mols.n_mol;
  id_index *map = elign_malloc((size_t)(n ? n : 1) * sizeof *map, "split:map");
  for (int64_t m = 0; m < n; m++) map[m] = (id_index){ds->mols.ids[m], m};
  qsort(map, (size_t)n, sizeof *map, cmp_id_index);
  for (int64_t m = 1; m < n && st == ELIGN_OK; m++)
    if (map[m].id == map[m - 1].id && map[m].id >= 0)
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: molecules %lld and %lld share id %lld, so split ids are ambiguous",
                      split_path, (long long)map[m - 1].index, (long long)map[m].index, (long long)map[m].id);
  for (int i = 0; i < root.n && st == ELIGN_OK; i++) {
    const elign_json *list = &root.items[i];
    if (list->type != ELIGN_JSON_ARRAY) continue; /* e.g. "seed": 12345 */
    int64_t *idx = elign_malloc((size_t)(list->n ? list->n : 1) * sizeof *idx, "split:index");
    for (int k = 0; k < list->n && st == ELIGN_OK; k++) {
      const elign_json *v = &list->items[k];
      if (v->type != ELIGN_JSON_NUMBER || v->number != floor(v->number) || fabs(v->number) > 9.0e15) {
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s line %d: split '%s' item %d is not an integer id", split_path,
                        v->line, root.keys[i], k);
        break;
      }
      id_index key = {(int64_t)v->number, -1};
      /* lower bound */
      int64_t lo = 0, hi = n;
      while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (map[mid].id < key.id) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= n || map[lo].id != key.id)
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s line %d: split '%s' lists id %lld, which no imported molecule has",
                        split_path, v->line, root.keys[i], (long long)key.id);
      else
        idx[k] = map[lo].index;
    }
    if (st == ELIGN_OK) {
      qsort(idx, (size_t)list->n, sizeof *idx, cmp_i64);
      for (int k = 1; k < list->n && st == ELIGN_OK; k++)
        if (idx[k] == idx[k - 1])
          st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: split '%s' lists id %lld twice", split_path, root.keys[i],
                          (long long)ds->mols.ids[idx[k]]);
    }
    if (st == ELIGN_OK) {
      if (strlen(root.keys[i]) >= 64 || strchr(root.keys[i], '/') || !root.keys[i][0])
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: bad split name '%s'", split_path, root.keys[i]);
      else
        elign_dataset_add_split(ds, root.keys[i], list->n, idx);
    }
    free(idx);
  }
  free(map);
  elign_json_free(&root);
  return st;
}

/* Keep only the molecules of split `name` (in file order); other splits are dropped. */
static elign_status select_subset(elign_dataset *ds, const char *name, elign_error *err) {
  const elign_split *sp = elign_dataset_find_split(ds, name);
  if (!sp) {
    char names[512] = "";
    for (int i = 0; i < ds->n_splits; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", ds->splits[i].name);
    return ELIGN_FAIL(err, ELIGN_ERR_ARG, "--subset %s: no such split (have: %s)", name, names[0] ? names : "none");
  }
  elign_dataset out;
  elign_dataset_init(&out);
  snprintf(out.source, sizeof out.source, "%.400s (subset %s)", ds->source, name);
  const elign_molset *s = &ds->mols;
  for (int64_t k = 0; k < sp->n; k++) {
    int64_t m = sp->index[k];
    elign_molset_append(&out.mols, (int)elign_molset_natoms(s, m), s->Z + s->offsets[m], s->pos + 3 * s->offsets[m],
                        s->ids ? s->ids[m] : -1, s->smiles ? s->smiles[m] : NULL);
  }
  double *col = elign_malloc((size_t)(sp->n ? sp->n : 1) * sizeof *col, "subset:column");
  for (int i = 0; i < ds->n_props; i++) {
    for (int64_t k = 0; k < sp->n; k++) col[k] = ds->props[i].values[sp->index[k]];
    elign_dataset_put_property(&out, ds->props[i].name, ds->props[i].unit, ds->props[i].description, 0, sp->n, col);
  }
  free(col);
  elign_dataset_free(ds);
  *ds = out;
  return ELIGN_OK;
}

/* ---- elign data import ------------------------------------------------------------------------- */

static void data_usage(FILE *out) {
  fprintf(out,
          "usage: elign data import INPUT [INPUT ...] -o OUT.h5 [--split SPLIT.json] [--subset NAME]\n"
          "\n"
          "Import molecules into an Elign-C dataset file (HDF5, docs/formats.md).\n"
          "INPUT: extended XYZ (.xyz, .xyz.gz) or the QM9 archive (dsgdb9nsd.xyz.tar.bz2 or any\n"
          "tar/compressed tar of QM9-format .xyz files). Several inputs are concatenated.\n"
          "  -o, --output FILE   the dataset file to write (written atomically)\n"
          "  --force             replace an existing output file (never an input)\n"
          "  --split FILE        JSON object: split name -> list of molecule ids; stored as /split/<name>\n"
          "  --subset NAME       keep only the molecules of that split\n"
          "Prints molecule and atom counts, the element and the size histograms.\n"
          "\n"
          "GEOM-Drugs: INPUT.msgpack (drugs_crude.msgpack), the only input, streamed: each of the\n"
          "lowest-energy conformers of a molecule becomes one entry, as EDM's build_geom_dataset.py;\n"
          "writes /split/train, /split/valid, /split/test (docs/formats.md, GEOM-Drugs).\n"
          "  --conformers N      conformers kept per molecule, lowest totalenergy first (default 30)\n"
          "  --max-atoms N       drop conformers with more atoms (default 181; 0 = no limit)\n"
          "  --drop-unknown-elements  drop conformers with elements outside EDM's 16 GEOM types\n"
          "                      (default: keep them, as EDM does)\n"
          "  --valid-fraction F  --test-fraction F   split sizes int(F*N) (default 0.1 each, as EDM)\n"
          "  --split-seed S      seed of the split permutation (default 0)\n"
          "  --split-by conformer|molecule  permute conformers (EDM, default) or whole molecules\n");
}

/* ---- GEOM-Drugs msgpack ------------------------------------------------------------------------ */

static int parse_long(const char *s, long long lo, long long hi, long long *v) {
  int64_t x;
  if (elign_scan_i64(s, lo, hi, &x) != ELIGN_SCAN_OK) return 0;
  *v = x;
  return 1;
}

static int parse_fraction(const char *s, double *v) { return elign_scan_real(s, 0, 1, v) == ELIGN_SCAN_OK; }

/* One GEOM option at argv[*i] (value at argv[*i + 1]); 1 if taken, 0 if not a
 * GEOM option, -1 on a bad value (message printed). */
static int geom_option(int argc, char **argv, int *i, elign_geom_options *o, int *seen) {
  const char *opt = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
  long long v;
  double f;
  int ok = 1;
  if (!strcmp(opt, "--drop-unknown-elements")) {
    o->drop_unknown_elements = 1;
    *seen = 1;
    return 1;
  }
  if (!strcmp(opt, "--conformers")) ok = val && parse_long(val, 1, 1000000, &v) && (o->max_conformers = (int)v, 1);
  else if (!strcmp(opt, "--max-atoms")) ok = val && parse_long(val, 0, 1000000, &v) && (o->max_atoms = (int)v, 1);
  else if (!strcmp(opt, "--valid-fraction")) ok = val && parse_fraction(val, &f) && (o->valid_fraction = f, 1);
  else if (!strcmp(opt, "--test-fraction")) ok = val && parse_fraction(val, &f) && (o->test_fraction = f, 1);
  else if (!strcmp(opt, "--split-seed")) ok = val && parse_long(val, 0, INT64_MAX, &v) && (o->split_seed = (uint64_t)v, 1);
  else if (!strcmp(opt, "--split-by")) {
    ok = val && (!strcmp(val, "conformer") || !strcmp(val, "molecule"));
    if (ok) o->split_by_molecule = !strcmp(val, "molecule");
  } else return 0;
  if (!ok) {
    fprintf(stderr, "elign data import: bad or missing value for %s%s%s\n", opt, val ? ": " : "", val ? val : "");
    return -1;
  }
  *seen = 1;
  (*i)++;
  return 1;
}

static void print_geom_report(const elign_geom_report *r, const elign_geom_options *o, const elign_hist *nodes,
                              const elign_hist *elements) {
  printf("GEOM molecules read: %lld (%lld conformers; %lld molecules without conformers)\n",
         (long long)r->molecules_read, (long long)r->conformers_read, (long long)r->molecules_without_conformers);
  printf("conformers beyond the %d lowest-energy ones of their molecule: %lld\n", o->max_conformers,
         (long long)r->conformers_over_limit);
  if (o->max_atoms > 0)
    printf("conformers dropped for more than %d atoms: %lld\n", o->max_atoms, (long long)r->conformers_too_large);
  printf("conformers with elements outside the 16 GEOM types: %lld (%s)\n", (long long)r->conformers_unknown_elements,
         o->drop_unknown_elements ? "dropped" : "kept, as EDM keeps them");
  printf("molecules: %lld (conformers kept, of %lld GEOM molecules)\n", (long long)r->conformers_kept,
         (long long)r->molecules_kept);
  printf("atoms: %lld\n", (long long)r->atoms_kept);
  printf("atoms per molecule: mean %.2f, min %lld, max %lld\n",
         r->conformers_kept ? (double)r->atoms_kept / (double)r->conformers_kept : 0.0, (long long)r->min_atoms,
         (long long)r->max_atoms);
  printf("split train: %lld molecules\nsplit valid: %lld molecules\nsplit test: %lld molecules\n",
         (long long)r->split_size[0], (long long)r->split_size[1], (long long)r->split_size[2]);
  printf("split by %s, seed %llu\n", o->split_by_molecule ? "molecule" : "conformer", (unsigned long long)o->split_seed);
  printf("largest molecule in the file: %lld bytes of msgpack\n", (long long)r->largest_molecule_bytes);
  print_element_hist(elements, r->conformers_kept);
  print_count_hist("molecules per atom count (nodes_hist)", "n_atoms", nodes);
}

static int geom_import_main(const char *in, const char *out, const elign_geom_options *o) {
  elign_error err;
  elign_error_clear(&err);
  elign_geom_report rep;
  double t0 = elign_wtime();
  elign_status st = elign_import_geom_msgpack(in, out, o, &rep, &err);
  if (st != ELIGN_OK) return elign_cli_fail(&err);
  elign_info("imported %lld conformers of %lld GEOM molecules in %.2f s -> %s", (long long)rep.conformers_kept,
             (long long)rep.molecules_kept, elign_wtime() - t0, out);
  printf("%s: Elign-C dataset file written\n", out);
  /* The histograms as stored, read back (the molecules themselves may not fit in memory). */
  elign_hist nodes = {0}, elements = {0};
  hid_t f;
  st = elign_h5_open_read(out, "dataset", ELIGN_DATASET_VERSION, &f, NULL, NULL, &err);
  if (st == ELIGN_OK) {
    st = elign_h5_read_hists(f, out, &nodes, &elements, &err);
    H5Fclose(f);
  }
  if (st == ELIGN_OK) print_geom_report(&rep, o, &nodes, &elements);
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  return st == ELIGN_OK ? ELIGN_EXIT_OK : elign_cli_fail(&err);
}

/* The output is none of the inputs (nor the split file), and replaces an
 * existing file only with --force. */
static elign_status check_import_files(const char *out, const char **inputs, int n_in, const char *split, int force,
                                       elign_error *err) {
  elign_file_arg *ins = elign_calloc((size_t)n_in + 1, sizeof *ins, "cli:input_args");
  for (int i = 0; i < n_in; i++) ins[i] = (elign_file_arg){inputs[i], "INPUT"};
  ins[n_in] = (elign_file_arg){split, "--split"};
  elign_file_arg outs[] = {{out, "-o"}};
  elign_status st = elign_outputs_check(outs, 1, ins, n_in + 1, force, err);
  free(ins);
  return st;
}

static int data_import_main(int argc, char **argv) {
  const char *out = NULL, *split = NULL, *subset = NULL;
  const char **inputs = elign_calloc((size_t)argc, sizeof *inputs, "cli:inputs");
  int n_in = 0, geom_opts_seen = 0, n_geom = 0, force = 0;
  elign_geom_options geom;
  elign_geom_options_default(&geom);
  geom.progress = 1;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      data_usage(stdout);
      free(inputs);
      return ELIGN_EXIT_OK;
    }
    int has_value = i + 1 < argc;
    int g = geom_option(argc, argv, &i, &geom, &geom_opts_seen);
    if (g < 0) {
      free(inputs);
      return ELIGN_EXIT_USAGE;
    }
    if (g > 0) continue;
    if (!strcmp(argv[i], "--force")) force = 1;
    else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && has_value) out = argv[++i];
    else if (!strcmp(argv[i], "--split") && has_value) split = argv[++i];
    else if (!strcmp(argv[i], "--subset") && has_value) subset = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "elign data import: unknown option or missing value '%s'\n\n", argv[i]);
      data_usage(stderr);
      free(inputs);
      return ELIGN_EXIT_USAGE;
    } else {
      n_geom += elign_import_is_geom(argv[i]);
      inputs[n_in++] = argv[i];
    }
  }
  const char *problem = !out                                  ? "-o OUT.h5 is required"
                        : n_in == 0                           ? "no input file"
                        : subset && !split                    ? "--subset needs --split"
                        : n_geom && n_in > 1                  ? "a GEOM .msgpack input must be the only input"
                        : n_geom && (split || subset)         ? "--split/--subset do not apply to GEOM input (it writes its own split)"
                        : !n_geom && geom_opts_seen           ? "the GEOM options need a .msgpack input"
                                                              : NULL;
  if (problem) {
    fprintf(stderr, "elign data import: %s\n\n", problem);
    data_usage(stderr);
    free(inputs);
    return ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  if (check_import_files(out, inputs, n_in, split, force, &err) != ELIGN_OK) {
    free(inputs);
    return elign_cli_fail(&err);
  }
  char kept[300];
  snprintf(kept, sizeof kept, "%s not written (its temporary removed); inputs untouched", out);
  elign_interrupt_install("data import");
  elign_interrupt_doing("importing molecules", kept);
  if (n_geom) {
    int rc = geom_import_main(inputs[0], out, &geom);
    free(inputs);
    return rc;
  }
  elign_dataset ds;
  elign_dataset_init(&ds);
  double t0 = elign_wtime();
  elign_status st = ELIGN_OK;
  for (int i = 0; i < n_in && st == ELIGN_OK; i++) {
    st = elign_import_any(inputs[i], &ds, &err);
    size_t l = strlen(ds.source);
    snprintf(ds.source + l, sizeof ds.source - l, "%s%s", i ? " + " : "", inputs[i]);
  }
  double t_read = elign_wtime() - t0;
  if (st == ELIGN_OK && split) st = apply_splits(&ds, split, &err);
  if (st == ELIGN_OK && subset) st = select_subset(&ds, subset, &err);
  if (st == ELIGN_OK) st = elign_dataset_write(out, &ds, &err);
  if (st != ELIGN_OK) {
    elign_dataset_free(&ds);
    free(inputs);
    return elign_cli_fail(&err);
  }
  elign_info("imported %lld molecules in %.2f s (reading %.2f s) -> %s", (long long)ds.mols.n_mol,
             elign_wtime() - t0, t_read, out);
  printf("%s: Elign-C dataset file written\n", out);
  elign_hist nodes, elements;
  elign_molset_size_hist(&ds.mols, &nodes);
  elign_molset_element_hist(&ds.mols, &elements);
  print_dataset_report(&ds, &nodes, &elements);
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  elign_dataset_free(&ds);
  free(inputs);
  return ELIGN_EXIT_OK;
}

int data_main(int argc, char **argv) {
  if (argc < 2 || elign_cli_is_help(argv[1])) {
    data_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? ELIGN_EXIT_USAGE : ELIGN_EXIT_OK;
  }
  if (strcmp(argv[1], "import") == 0) return data_import_main(argc - 1, argv + 1);
  fprintf(stderr, "elign data: unknown subcommand '%s'\n\n", argv[1]);
  data_usage(stderr);
  return ELIGN_EXIT_USAGE;
}

/* ---- elign info ---------------------------------------------------------------------------------- */

static int hist_equal(const elign_hist *a, const elign_hist *b) {
  if (a->n != b->n) return 0;
  for (int64_t i = 0; i < a->n; i++)
    if (a->key[i] != b->key[i] || a->count[i] != b->count[i]) return 0;
  return 1;
}

/* The stored histograms, checked against the molecules themselves. */
static elign_status stored_hists(const char *path, const elign_molset *mols, elign_hist *nodes, elign_hist *elements,
                                 elign_error *err) {
  hid_t f;
  elign_status st = elign_h5_open_read(path, NULL, 0, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  st = elign_h5_read_hists(f, path, nodes, elements, err);
  H5Fclose(f);
  if (st != ELIGN_OK) return st;
  elign_hist n2, e2;
  elign_molset_size_hist(mols, &n2);
  elign_molset_element_hist(mols, &e2);
  if (!hist_equal(nodes, &n2) || !hist_equal(elements, &e2))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: stored /nodes_hist or /element_hist disagree with the molecules", path);
  elign_hist_free(&n2);
  elign_hist_free(&e2);
  return st;
}

static elign_status info_dataset(const char *path, elign_error *err) {
  elign_dataset ds;
  elign_status st = elign_dataset_read(path, &ds, err);
  elign_hist nodes = {0}, elements = {0};
  if (st == ELIGN_OK) st = stored_hists(path, &ds.mols, &nodes, &elements, err);
  if (st == ELIGN_OK) print_dataset_report(&ds, &nodes, &elements);
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  elign_dataset_free(&ds);
  return st;
}

/* EDM's stability metric (ALGORITHMS.md §3.4) with the rule the elements call for. */
static void print_stability(const elign_molset *mols) {
  elign_stability_stats st;
  elign_stability_stats_init(&st);
  int geom = elign_stability_rule_for(mols->Z, mols->n_atoms);
  elign_molset_stability(mols, geom, &st, NULL, NULL);
  printf("\nstability (EDM, %s rule): atoms %lld/%lld = %.2f%% (pooled), molecules %lld/%lld = %.2f%%; "
         "per-molecule mean atom stability (Elign) %.2f%%\n",
         geom ? "GEOM" : "QM9", (long long)st.n_stable_atoms, (long long)st.n_atoms,
         100 * elign_stability_atom_pooled(&st), (long long)st.n_stable_molecules, (long long)st.n_molecules,
         100 * elign_stability_molecule(&st), 100 * elign_stability_atom_mean(&st));
  elign_stability_stats sc;
  elign_stability_stats_init(&sc);
  elign_molset_stability_corrected(mols, geom, &sc);
  printf("stability (corrected variant: aromatic bonds, balanced charges, S 2/4/6; docs/stability.md): atoms "
         "%.2f%% (pooled), molecules %.2f%%\n", 100 * elign_stability_atom_pooled(&sc), 100 * elign_stability_molecule(&sc));
}

static elign_status info_samples(const char *path, elign_error *err) {
  elign_molset mols;
  int64_t *group = NULL;
  elign_samples_meta meta;
  elign_status st = elign_samples_read(path, &mols, &group, &meta, err);
  elign_hist nodes = {0}, elements = {0};
  if (st == ELIGN_OK) st = stored_hists(path, &mols, &nodes, &elements, err);
  if (st == ELIGN_OK) {
    printf("model: %s\nmodel sha256: %s\nseed: %llu\nsteps: %lld\niteration: %lld\n", meta.model[0] ? meta.model : "?",
           meta.model_sha256[0] ? meta.model_sha256 : "(not recorded)",
           (unsigned long long)meta.seed, (long long)meta.steps, (long long)meta.iteration);
    int64_t *g = elign_malloc((size_t)(mols.n_mol ? mols.n_mol : 1) * sizeof *g, "info:groups");
    memcpy(g, group, (size_t)mols.n_mol * sizeof *g);
    qsort(g, (size_t)mols.n_mol, sizeof *g, cmp_i64);
    int64_t n_groups = 0;
    for (int64_t m = 0; m < mols.n_mol; m++) n_groups += g[m] >= 0 && (m == 0 || g[m] != g[m - 1]);
    free(g);
    print_counts(&mols);
    printf("groups: %lld distinct rollout groups\n", (long long)n_groups);
    print_element_hist(&elements, mols.n_mol);
    print_count_hist("molecules per atom count (nodes_hist)", "n_atoms", &nodes);
    print_stability(&mols);
  }
  elign_hist_free(&nodes);
  elign_hist_free(&elements);
  free(group);
  elign_molset_free(&mols);
  return st;
}

static elign_status info_oracle_results(const char *path, elign_error *err) {
  elign_molset mols;
  int32_t *status = NULL;
  char oracle[128];
  elign_status st = elign_oracle_results_read(path, &mols, &status, oracle, err);
  if (st == ELIGN_OK) {
    printf("oracle: %s\n", oracle[0] ? oracle : "?");
    print_counts(&mols);
    /* status histogram (codes are small integers) */
    printf("\nstatus:\n  %8s %10s\n", "code", "molecules");
    int32_t *codes = elign_malloc((size_t)(mols.n_mol ? mols.n_mol : 1) * sizeof *codes, "info:codes");
    memcpy(codes, status, (size_t)mols.n_mol * sizeof *codes);
    for (int64_t i = 1; i < mols.n_mol; i++)
      for (int64_t j = i; j > 0 && codes[j - 1] > codes[j]; j--) {
        int32_t t = codes[j];
        codes[j] = codes[j - 1];
        codes[j - 1] = t;
      }
    for (int64_t i = 0; i < mols.n_mol;) {
      int64_t j = i;
      while (j < mols.n_mol && codes[j] == codes[i]) j++;
      printf("  %8d %10lld\n", codes[i], (long long)(j - i));
      i = j;
    }
    free(codes);
    double sum = 0, mn = INFINITY, mx = -INFINITY, fmax = 0;
    int64_t n_ok = 0;
    for (int64_t m = 0; m < mols.n_mol; m++) {
      if (status[m] != 0) continue;
      double e = mols.energy[m];
      sum += e, n_ok++;
      if (e < mn) mn = e;
      if (e > mx) mx = e;
      for (int64_t a = mols.offsets[m]; a < mols.offsets[m + 1]; a++) {
        const double *fa = mols.forces + 3 * a;
        double f = sqrt(fa[0] * fa[0] + fa[1] * fa[1] + fa[2] * fa[2]);
        if (f > fmax) fmax = f;
      }
    }
    printf("\nenergy (eV, status 0): n %lld, mean %.6f, min %.6f, max %.6f\n", (long long)n_ok,
           n_ok ? sum / (double)n_ok : NAN, n_ok ? mn : NAN, n_ok ? mx : NAN);
    printf("largest |force| (eV/angstrom, status 0): %.6f\n", fmax);
  }
  free(status);
  elign_molset_free(&mols);
  return st;
}

static void print_attr(const elign_ckpt_attr *a) {
  printf("  %-24s ", a->name);
  switch (a->type) {
    case ELIGN_CKPT_INT: printf("%lld\n", (long long)a->i); break;
    case ELIGN_CKPT_DOUBLE: printf("%.10g\n", a->d); break;
    case ELIGN_CKPT_STRING: printf("\"%s\"\n", a->s); break;
    case ELIGN_CKPT_DOUBLES:
      for (int k = 0; k < a->n; k++) printf("%s%.10g", k ? ", " : "[", a->v[k]);
      printf("]\n");
      break;
  }
}

static elign_status info_model(const char *path, int all_views, elign_error *err) {
  elign_checkpoint c;
  elign_status st = elign_checkpoint_read(&c, path, err);
  if (st == ELIGN_OK) {
    printf("architecture:\n");
    for (int i = 0; i < c.n_attrs; i++) print_attr(&c.attrs[i]);
    int64_t covered = 0;
    for (int i = 0; i < c.n_views; i++) covered += c.views[i].size;
    printf("parameters: %lld (float32), in %d named views covering %lld\n", (long long)c.n_params, c.n_views,
           (long long)covered);
    int show = all_views || c.n_views <= 12 ? c.n_views : 10;
    for (int i = 0; i < show; i++) {
      const elign_ckpt_view *v = &c.views[i];
      printf("  %-60s offset %10lld  shape [", v->name, (long long)v->offset);
      for (int d = 0; d < v->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)v->shape[d]);
      printf("]\n");
    }
    if (show < c.n_views) printf("  ... %d more (elign info --views FILE lists all)\n", c.n_views - show);
    printf("iteration: %lld, optimizer_step: %lld, epoch: %lld\n", (long long)c.iteration, (long long)c.optimizer_step,
           (long long)c.epoch);
    if (c.opt_m)
      printf("optimizer: %s, step %lld (m, v%s stored; clipping queue of %d norms)\n", c.opt_kind,
             (long long)c.opt_step, c.opt_vmax ? ", amsgrad max" : "", c.n_clip);
    else printf("optimizer: none stored\n");
    if (c.ema) printf("ema of the parameters: stored (decay %g)\n", c.ema_decay);
    printf("reference (frozen) parameters: %s\n", c.reference ? "stored" : "none");
    printf("rng: seed %llu, %d stream counters\n", (unsigned long long)c.rng_seed, c.n_rng_counters);
    if (c.config_text) {
      int lines = 0;
      for (const char *p = c.config_text; *p; p++) lines += *p == '\n';
      printf("config: %d lines stored\n", lines);
    } else {
      printf("config: none stored\n");
    }
    if (c.n_hist > 0) {
      elign_hist h = {c.n_hist, c.hist_n_atoms, c.hist_count};
      print_count_hist("training molecules per atom count (nodes_hist)", "n_atoms", &h);
    }
  }
  elign_checkpoint_free(&c);
  return st;
}

/* Files of `elign denoise` (docs/formats-diffusion.md): denoise_states (the
 * latents given) and denoise_output (the network's results). */
static elign_status info_denoise(const char *path, const char *format, elign_error *err) {
  hid_t f;
  elign_status st = elign_h5_open_read(path, format, ELIGN_DENOISE_VERSION, &f, NULL, NULL, err);
  if (st != ELIGN_OK) return st;
  int64_t T = 0, *offsets = NULL;
  int32_t *t = NULL;
  float *z = NULL;
  hsize_t d_off[1] = {0}, d_t[1] = {0}, d_z[2] = {0, 0};
  const char *latent = strcmp(format, "denoise_states") == 0 ? "z_t" : "zhat0";
  st = elign_h5_get_attr_i64(f, "/", "T", &T, path, err);
  if (st == ELIGN_OK) st = elign_h5_read_array(f, "offsets", H5T_NATIVE_INT64, 1, d_off, (void **)&offsets, path, err);
  if (st == ELIGN_OK) st = elign_h5_read_array(f, "t", H5T_NATIVE_INT32, 1, d_t, (void **)&t, path, err);
  if (st == ELIGN_OK) st = elign_h5_read_array(f, latent, H5T_NATIVE_FLOAT, 2, d_z, (void **)&z, path, err);
  H5Fclose(f);
  int64_t n_mol = d_off[0] > 0 ? (int64_t)d_off[0] - 1 : 0;
  if (st == ELIGN_OK && (d_off[0] < 1 || (int64_t)d_t[0] != n_mol || offsets[n_mol] != (int64_t)d_z[0]))
    st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: /offsets, /t and /%s disagree on the molecule and atom counts", path,
                    latent);
  if (st == ELIGN_OK) {
    int32_t t_min = n_mol ? t[0] : 0, t_max = t_min;
    for (int64_t m = 0; m < n_mol; m++) t_min = t[m] < t_min ? t[m] : t_min, t_max = t[m] > t_max ? t[m] : t_max;
    int64_t nonfinite = 0;
    for (size_t k = 0; k < (size_t)(d_z[0] * d_z[1]); k++) nonfinite += !isfinite(z[k]);
    printf("chain length T: %lld\nmolecules: %lld\natoms: %lld\nchannels D: %lld\nt: %d..%d\n", (long long)T,
           (long long)n_mol, (long long)d_z[0], (long long)d_z[1], t_min, t_max);
    printf("non-finite values in /%s: %lld\n", latent, (long long)nonfinite);
  }
  free(offsets);
  free(t);
  free(z);
  return st;
}

/* ---- provenance (common/base/provenance.h) ----------------------------------------------- */

/* Print one-line JSON indented, two spaces a level (strings copied verbatim). */
static void print_json_indented(const char *j, int base) {
  int depth = base, in_str = 0;
  printf("%*s", 2 * depth, "");
  for (const char *p = j; *p; p++) {
    char c = *p;
    if (in_str) {
      if (++in_str > 120 && c != '"') { /* a long string (the resolved config): its start and its length */
        const char *q = p;
        while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
        printf("... (%ld more characters; the file holds it whole)", (long)(q - p));
        p = q - 1;
        continue;
      }
      putchar(c);
      if (c == '\\' && p[1]) putchar(*++p);
      else if (c == '"') in_str = 0;
      continue;
    }
    if (c == '"') in_str = 1, putchar(c);
    else if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      if (p[1] == close) { printf("%c%c", c, close), p++; continue; }
      printf("%c\n%*s", c, 2 * ++depth, "");
    } else if (c == '}' || c == ']') printf("\n%*s%c", 2 * --depth, "", c);
    else if (c == ',') printf(",\n%*s", 2 * depth, "");
    else if (c == ':') printf(": ");
    else if (c != ' ' && c != '\n' && c != '\t' && c != '\r') putchar(c);
  }
  putchar('\n');
}

/* The HDF5 file's provenance attribute, or a note that it has none (files of older builds). */
static void info_provenance_h5(const char *path) {
  hid_t f;
  elign_error e;
  elign_error_clear(&e);
  if (elign_h5_open_read(path, NULL, 0, &f, NULL, NULL, &e) != ELIGN_OK) return;
  char *text = NULL;
  if (elign_h5_has_attr(f, "/", "provenance") && elign_h5_get_attr_text(f, "/", "provenance", &text, path, &e) == ELIGN_OK) {
    printf("\nprovenance:\n");
    print_json_indented(text, 1);
  } else {
    printf("\nprovenance: none recorded (written by a build before provenance records)\n");
  }
  free(text);
  H5Fclose(f);
}

/* A JSON file's "provenance" member (`elign eval --out`), or a provenance.json
 * itself, or a metrics log's RUN/provenance.json. */
static int info_json(const char *path, elign_error *err) {
  size_t n = strlen(path);
  char target[4200];
  if (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) {
    const char *slash = strrchr(path, '/');
    snprintf(target, sizeof target, "%.*sprovenance.json", slash ? (int)(slash - path + 1) : 0, path);
  } else {
    snprintf(target, sizeof target, "%s", path);
  }
  FILE *f = fopen(target, "rb");
  if (!f) {
    ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", target, strerror(errno));
    if (strcmp(target, path) != 0) elign_error_hint(err, "a metrics log's provenance is the provenance.json beside it");
    return elign_cli_fail(err);
  }
  char *text = NULL;
  size_t len = 0, cap = 0, got;
  char buf[65536];
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    if (len + got + 1 > cap) text = elign_realloc(text, cap = 2 * (len + got + 1), "info:json");
    memcpy(text + len, buf, got);
    len += got;
  }
  fclose(f);
  if (!text) text = elign_calloc(1, 1, "info:json");
  text[len] = 0;
  /* the record: the whole file, or the value of its "provenance" member (one line, as written) */
  const char *rec = strstr(text, "\"provenance\": ");
  rec = rec ? rec + strlen("\"provenance\": ") : text;
  while (*rec == ' ' || *rec == '\n') rec++;
  if (*rec != '{') {
    free(text);
    ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no provenance record in it", target);
    return elign_cli_fail(err);
  }
  size_t rlen = 0; /* to the matching brace */
  for (int depth = 0, in_str = 0; rec[rlen]; rlen++) {
    char c = rec[rlen];
    if (in_str) {
      if (c == '\\' && rec[rlen + 1]) rlen++;
      else if (c == '"') in_str = 0;
    } else if (c == '"') in_str = 1;
    else if (c == '{') depth++;
    else if (c == '}' && --depth == 0) {
      rlen++;
      break;
    }
  }
  char *one = elign_malloc(rlen + 1, "info:record");
  memcpy(one, rec, rlen);
  one[rlen] = 0;
  printf("%s: provenance\n", target);
  print_json_indented(one, 1);
  free(one);
  free(text);
  return ELIGN_EXIT_OK;
}

static void info_usage(FILE *out) {
  fprintf(out,
          "usage: elign info [--views] FILE.h5\n"
          "\n"
          "Describe an Elign-C HDF5 file: datasets and sample files (counts, element and size\n"
          "histograms, splits), model checkpoints (architecture, parameters, optimizer and\n"
          "iteration state; --views lists every parameter view), oracle results (counts,\n"
          "status histogram, energy statistics), denoise states and outputs (counts, t range);\n"
          "for every file its provenance record (git commit, config, library versions, input\n"
          "hashes, rank layout, seed: docs/trust.md). Also takes `elign eval --out` JSON\n"
          "summaries, RUN/provenance.json and RUN/metrics.jsonl (its provenance.json).\n");
}

int info_main(int argc, char **argv) {
  const char *path = NULL;
  int all_views = 0;
  for (int i = 1; i < argc; i++) {
    if (elign_cli_is_help(argv[i])) {
      info_usage(stdout);
      return ELIGN_EXIT_OK;
    } else if (!strcmp(argv[i], "--views")) {
      all_views = 1;
    } else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "elign info: unexpected argument '%s'\n\n", argv[i]);
      info_usage(stderr);
      return ELIGN_EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    info_usage(stderr);
    return ELIGN_EXIT_USAGE;
  }
  elign_error err;
  elign_error_clear(&err);
  size_t plen = strlen(path);
  if ((plen > 5 && strcmp(path + plen - 5, ".json") == 0) || (plen > 6 && strcmp(path + plen - 6, ".jsonl") == 0))
    return info_json(path, &err);
  hid_t f;
  char format[32];
  int version;
  elign_status st = elign_h5_open_read(path, NULL, 0, &f, format, &version, &err);
  if (st != ELIGN_OK) return elign_cli_fail(&err);
  H5Fclose(f);
  if (!format[0]) {
    ELIGN_FAIL(&err, ELIGN_ERR_FORMAT, "%s: not an Elign-C file (an HDF5 file without the elign_format attribute)",
               path);
    return elign_cli_fail(&err);
  }
  static const char *known[] = {"dataset", "samples", "oracle_results", "model", "denoise_states", "denoise_output"};
  size_t kind = 0;
  while (kind < sizeof known / sizeof known[0] && strcmp(format, known[kind]) != 0) kind++;
  if (kind == sizeof known / sizeof known[0]) { /* before the header: one message, nothing half printed */
    ELIGN_FAIL(&err, ELIGN_ERR_FORMAT, "%s: Elign-C format '%s' is not one this build describes", path, format);
    elign_error_hint(&err, "this build knows: dataset, samples, oracle_results, model, denoise_states, denoise_output");
    return elign_cli_fail(&err);
  }
  printf("%s: Elign-C %s file (format version %d)\n", path, format, version);
  if (!strcmp(format, "dataset")) st = info_dataset(path, &err);
  else if (!strcmp(format, "samples")) st = info_samples(path, &err);
  else if (!strcmp(format, "oracle_results")) st = info_oracle_results(path, &err);
  else if (!strcmp(format, "model")) st = info_model(path, all_views, &err);
  else st = info_denoise(path, format, &err);
  if (st == ELIGN_OK) info_provenance_h5(path);
  fflush(stdout);
  return st == ELIGN_OK ? ELIGN_EXIT_OK : elign_cli_fail(&err);
}
