/* eval_journal.c — the per-file journal that makes `elign eval` resumable.
 *
 * One append-only text file per input file and run directory, named by the
 * digest of the molecules, the bond rule and the chunk size
 * (<basename>.<digest>.jsonl), so a changed input never meets old results.
 * Line 1 is a header; every further line is one finished chunk of one
 * section:
 *
 *   <crc32 of the JSON, 8 hex> {"section": "chem", "chunk": 3, "rows": [[1, 9, 1, 1, "[H]C..."], ...]}
 *   <crc32> {"section": "oracle", "backend": "ani", "key": "…", "chunk": 3, "rows": [[0, -1234.5, ...], ...]}
 *
 * Each record is written with one write() on an O_APPEND descriptor and
 * fsync'ed before the next chunk is reported done, so a kill leaves at most
 * a torn last line, which the next open cuts off. A record whose checksum or
 * JSON does not hold is skipped (its chunk is evaluated again); a backend
 * record whose settings key differs from this run's (another model, fmax,
 * batch size, ...) is ignored. Numbers are written with round-trip digits,
 * so a resumed evaluation reports exactly what an uninterrupted one does.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/base/json.h"
#include "common/base/json_writer.h"
#include "common/base/log.h"
#include "learner/eval.h"

#define CHEM_COLUMNS 5
#define ORACLE_COLUMNS 13

static int mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- writing ---------------------------------------------------------------- */

/* Append "<crc> <json>\n" in one write and make it durable. */
static elign_status append_line(eval_file *f, const char *json, size_t len, elign_error *err) {
  char head[16];
  snprintf(head, sizeof head, "%08lx ", (unsigned long)crc32(0L, (const Bytef *)json, (uInt)len));
  size_t total = 9 + len + 1;
  char *line = elign_malloc(total, "journal:line");
  memcpy(line, head, 9);
  memcpy(line + 9, json, len);
  line[total - 1] = '\n';
  size_t done = 0;
  while (done < total) {
    ssize_t w = write(f->journal_fd, line + done, total - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      elign_free(line);
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot append: %s", f->journal_path, strerror(errno));
    }
    done += (size_t)w;
  }
  elign_free(line);
  if (fsync(f->journal_fd) != 0 && errno != EINVAL)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: fsync: %s", f->journal_path, strerror(errno));
  return ELIGN_OK;
}

typedef struct {
  char *buf;
  size_t len;
  FILE *mem;
  elign_json_writer w;
} record;

static void record_begin(record *r) {
  r->buf = NULL;
  r->len = 0;
  r->mem = open_memstream(&r->buf, &r->len);
  ELIGN_ASSERT(r->mem != NULL);
  elign_jw_init(&r->w, r->mem, 0);
  elign_jw_begin_object(&r->w, NULL);
}

static elign_status record_end(eval_file *f, record *r, elign_error *err) {
  elign_jw_end(&r->w);
  int bad = elign_jw_error(&r->w);
  fclose(r->mem);
  elign_status st = bad ? ELIGN_FAIL(err, ELIGN_ERR_NOMEM, "%s: cannot format a record", f->journal_path)
                        : append_line(f, r->buf, r->len, err);
  free(r->buf);
  return st;
}

elign_status eval_journal_add_chem(eval_file *f, int64_t chunk, int64_t m0, int64_t m1, elign_error *err) {
  record r;
  record_begin(&r);
  elign_jw_string(&r.w, "section", "chem");
  elign_jw_int(&r.w, "chunk", chunk);
  elign_jw_begin_array(&r.w, "rows");
  for (int64_t m = m0; m < m1; m++) {
    const eval_chem *c = &f->chem[m];
    elign_jw_begin_array(&r.w, NULL);
    elign_jw_int(&r.w, NULL, c->stable);
    elign_jw_int(&r.w, NULL, c->n_stable_atoms);
    elign_jw_int(&r.w, NULL, c->valid);
    elign_jw_int(&r.w, NULL, c->n_fragments);
    elign_jw_string(&r.w, NULL, c->smiles);
    elign_jw_end(&r.w);
  }
  elign_jw_end(&r.w);
  return record_end(f, &r, err);
}

elign_status eval_journal_add_oracle(eval_file *f, const eval_settings *s, int backend, int64_t chunk, int64_t m0,
                                     int64_t m1, elign_error *err) {
  record r;
  record_begin(&r);
  elign_jw_string(&r.w, "section", "oracle");
  elign_jw_string(&r.w, "backend", s->backends[backend]);
  elign_jw_string(&r.w, "key", s->backend_keys[backend]);
  elign_jw_int(&r.w, "chunk", chunk);
  elign_jw_begin_array(&r.w, "rows");
  for (int64_t m = m0; m < m1; m++) {
    const elign_relax_result *x = &f->oracle[backend][m];
    elign_jw_begin_array(&r.w, NULL);
    elign_jw_int(&r.w, NULL, x->status);
    elign_jw_number(&r.w, NULL, x->energy);
    elign_jw_number(&r.w, NULL, x->fmax);
    elign_jw_number(&r.w, NULL, x->frms);
    elign_jw_int(&r.w, NULL, x->outcome);
    elign_jw_int(&r.w, NULL, x->relax_status);
    elign_jw_int(&r.w, NULL, x->steps);
    elign_jw_number(&r.w, NULL, x->energy_final);
    elign_jw_number(&r.w, NULL, x->fmax_final);
    elign_jw_number(&r.w, NULL, x->frms_final);
    elign_jw_number(&r.w, NULL, x->rmsd);
    elign_jw_number(&r.w, NULL, x->rmsd_heavy);
    elign_jw_number(&r.w, NULL, x->drms);
    elign_jw_end(&r.w);
  }
  elign_jw_end(&r.w);
  return record_end(f, &r, err);
}

elign_status eval_journal_add_dft(eval_file *f, const eval_settings *s, int64_t k, elign_error *err) {
  const eval_dft *d = &f->dft[k];
  record r;
  record_begin(&r);
  elign_jw_string(&r.w, "section", "dft");
  elign_jw_string(&r.w, "key", s->dft_key);
  elign_jw_int(&r.w, "index", f->dft_index[k]);
  elign_jw_begin_array(&r.w, "row");
  elign_jw_int(&r.w, NULL, d->status);
  elign_jw_number(&r.w, NULL, d->energy);
  elign_jw_number(&r.w, NULL, d->formation_energy);
  elign_jw_number(&r.w, NULL, d->frms);
  elign_jw_number(&r.w, NULL, d->fmax);
  elign_jw_end(&r.w);
  return record_end(f, &r, err);
}

/* ---- reading ---------------------------------------------------------------- */

static double num(const elign_json *v) { return v->type == ELIGN_JSON_NUMBER ? v->number : NAN; }

/* Integer cell (must be a number). */
static int int_cell(const elign_json *v, int64_t lo, int64_t hi, int64_t *out) {
  if (v->type != ELIGN_JSON_NUMBER || v->number != floor(v->number) || v->number < (double)lo ||
      v->number > (double)hi)
    return 0;
  *out = (int64_t)v->number;
  return 1;
}

/* The rows of a record for chunk k: a well-formed array of the chunk's length. */
static const elign_json *chunk_rows(const eval_file *f, const eval_settings *s, const elign_json *rec, int64_t *chunk,
                                    int columns) {
  const elign_json *c = elign_json_get(rec, "chunk"), *rows = elign_json_get(rec, "rows");
  if (!c || !rows || rows->type != ELIGN_JSON_ARRAY || !int_cell(c, 0, f->n_chunks - 1, chunk)) return NULL;
  int64_t m0 = *chunk * s->chunk, m1 = m0 + s->chunk < f->mols.n_mol ? m0 + s->chunk : f->mols.n_mol;
  if (rows->n != m1 - m0) return NULL;
  for (int i = 0; i < rows->n; i++)
    if (rows->items[i].type != ELIGN_JSON_ARRAY || rows->items[i].n != columns) return NULL;
  return rows;
}

static int read_chem(eval_file *f, const eval_settings *s, const elign_json *rec) {
  int64_t k;
  const elign_json *rows = chunk_rows(f, s, rec, &k, CHEM_COLUMNS);
  if (!rows) return 0;
  int64_t m0 = k * s->chunk;
  eval_chem tmp[rows->n > 0 ? rows->n : 1];
  for (int i = 0; i < rows->n; i++) {
    const elign_json *c = rows->items[i].items;
    int64_t stable, ns, valid, nf;
    if (!int_cell(&c[0], 0, 1, &stable) || !int_cell(&c[1], 0, INT32_MAX, &ns) || !int_cell(&c[2], -2, 1, &valid) ||
        !int_cell(&c[3], 0, INT32_MAX, &nf) || (c[4].type != ELIGN_JSON_STRING && c[4].type != ELIGN_JSON_NULL))
      return 0;
    tmp[i] = (eval_chem){.stable = (int8_t)stable, .n_stable_atoms = (int32_t)ns, .valid = (int8_t)valid,
                         .n_fragments = (int32_t)nf};
    tmp[i].smiles = c[4].type == ELIGN_JSON_STRING ? c[4].string : NULL;
  }
  for (int i = 0; i < rows->n; i++) {
    eval_chem *c = &f->chem[m0 + i];
    elign_free(c->smiles);
    *c = tmp[i];
    if (c->smiles) c->smiles = elign_strdup(c->smiles, "journal:smiles");
  }
  f->chem_done[k] = 1;
  return 1;
}

static int read_oracle(eval_file *f, const eval_settings *s, const elign_json *rec) {
  const elign_json *name = elign_json_get(rec, "backend"), *key = elign_json_get(rec, "key");
  if (!name || !key || name->type != ELIGN_JSON_STRING || key->type != ELIGN_JSON_STRING) return 0;
  int b = -1;
  for (int i = 0; i < s->n_backends; i++)
    if (strcmp(s->backends[i], name->string) == 0 && strcmp(s->backend_keys[i], key->string) == 0) b = i;
  if (b < 0) return 1; /* intact, but for other settings: not ours */
  int64_t k;
  const elign_json *rows = chunk_rows(f, s, rec, &k, ORACLE_COLUMNS);
  if (!rows) return 0;
  int64_t m0 = k * s->chunk;
  for (int i = 0; i < rows->n; i++) {
    const elign_json *c = rows->items[i].items;
    int64_t status, outcome, rs, steps;
    if (!int_cell(&c[0], -1, 1000, &status) || !int_cell(&c[4], 0, 3, &outcome) || !int_cell(&c[5], -1, 1000, &rs) ||
        !int_cell(&c[6], 0, INT32_MAX, &steps))
      return 0;
    for (int j = 0; j < ORACLE_COLUMNS; j++)
      if (c[j].type != ELIGN_JSON_NUMBER && c[j].type != ELIGN_JSON_NULL) return 0;
  }
  for (int i = 0; i < rows->n; i++) {
    const elign_json *c = rows->items[i].items;
    elign_relax_result *x = &f->oracle[b][m0 + i];
    x->status = (int32_t)c[0].number;
    x->energy = num(&c[1]);
    x->fmax = num(&c[2]);
    x->frms = num(&c[3]);
    x->outcome = (int32_t)c[4].number;
    x->relax_status = (int32_t)c[5].number;
    x->steps = (int32_t)c[6].number;
    x->energy_final = num(&c[7]);
    x->fmax_final = num(&c[8]);
    x->frms_final = num(&c[9]);
    x->rmsd = num(&c[10]);
    x->rmsd_heavy = num(&c[11]);
    x->drms = num(&c[12]);
  }
  f->oracle_done[b][k] = 1;
  return 1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* A DFT molecule: kept when its settings key is this run's and the molecule is
 * among the chosen ones (another --dft N or seed keeps what it can use). */
static int read_dft(eval_file *f, const eval_settings *s, const elign_json *rec) {
  const elign_json *key = elign_json_get(rec, "key"), *idx = elign_json_get(rec, "index"),
                   *row = elign_json_get(rec, "row");
  int64_t m, status;
  if (!key || key->type != ELIGN_JSON_STRING || !idx || !int_cell(idx, 0, f->mols.n_mol - 1, &m) || !row ||
      row->type != ELIGN_JSON_ARRAY || row->n != 5 || !int_cell(&row->items[0], -1, 1000, &status))
    return 0;
  for (int j = 1; j < 5; j++)
    if (row->items[j].type != ELIGN_JSON_NUMBER && row->items[j].type != ELIGN_JSON_NULL) return 0;
  if (s->dft_n <= 0 || strcmp(key->string, s->dft_key) != 0) return 1; /* intact, not ours */
  const int64_t *hit = f->n_dft > 0 ? bsearch(&m, f->dft_index, (size_t)f->n_dft, sizeof m, cmp_i64) : NULL;
  if (!hit) return 1;
  eval_dft *d = &f->dft[hit - f->dft_index];
  const elign_json *c = row->items;
  *d = (eval_dft){.status = (int32_t)status, .energy = num(&c[1]), .formation_energy = num(&c[2]),
                  .frms = num(&c[3]), .fmax = num(&c[4])};
  return 1;
}

/* Checksum and JSON of one line ("" on failure). */
static int parse_line(const char *line, size_t len, const char *source, elign_json *v) {
  if (len < 10 || line[8] != ' ') return 0;
  char hex[9];
  memcpy(hex, line, 8);
  hex[8] = '\0';
  char *end;
  unsigned long want = strtoul(hex, &end, 16);
  if (*end != '\0') return 0;
  const char *json = line + 9;
  size_t jlen = len - 9;
  if ((unsigned long)crc32(0L, (const Bytef *)json, (uInt)jlen) != want) return 0;
  elign_error err;
  if (elign_json_parse(json, jlen, source, v, &err) != ELIGN_OK) return 0;
  if (v->type == ELIGN_JSON_OBJECT) return 1;
  elign_json_free(v);
  return 0;
}

static elign_status write_header(eval_file *f, const eval_settings *s, elign_error *err) {
  char digest[17];
  snprintf(digest, sizeof digest, "%016llx", (unsigned long long)f->digest);
  record r;
  record_begin(&r);
  elign_jw_int(&r.w, "elign_eval_journal", EVAL_VERSION);
  elign_jw_string(&r.w, "input", f->path);
  elign_jw_int(&r.w, "n_molecules", f->mols.n_mol);
  elign_jw_int(&r.w, "chunk", s->chunk);
  elign_jw_int(&r.w, "rule", s->rule);
  elign_jw_string(&r.w, "digest", digest);
  return record_end(f, &r, err);
}

/* Read the records of an existing journal; returns the byte length of its
 * intact prefix of whole lines (a torn last line is cut there). */
static elign_status read_journal(eval_file *f, const eval_settings *s, FILE *in, off_t *keep, elign_error *err) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  off_t pos = 0;
  int64_t lineno = 0;
  char want_digest[17];
  snprintf(want_digest, sizeof want_digest, "%016llx", (unsigned long long)f->digest);
  elign_status st = ELIGN_OK;
  while ((len = getline(&line, &cap, in)) > 0) {
    if (line[len - 1] != '\n') break; /* torn: written up to here when the run died */
    pos += len;
    lineno++;
    elign_json v;
    memset(&v, 0, sizeof v);
    if (!parse_line(line, (size_t)len - 1, f->journal_path, &v)) {
      if (lineno == 1) {
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: line 1 is not an eval journal header", f->journal_path);
        elign_error_hint(err, "remove the file, or run with --restart");
        break;
      }
      f->bad_records++;
      elign_warn("%s line %lld: damaged record skipped (its molecules are evaluated again)", f->journal_path,
                 (long long)lineno);
      continue;
    }
    if (lineno == 1) {
      const elign_json *d = elign_json_get(&v, "digest");
      if (!d || d->type != ELIGN_JSON_STRING || strcmp(d->string, want_digest) != 0)
        st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: the header names other molecules (digest)", f->journal_path);
      elign_json_free(&v);
      if (st) break;
      continue;
    }
    const elign_json *sec = elign_json_get(&v, "section");
    int ok = 0;
    if (sec && sec->type == ELIGN_JSON_STRING && strcmp(sec->string, "chem") == 0)
      ok = read_chem(f, s, &v);
    else if (sec && sec->type == ELIGN_JSON_STRING && strcmp(sec->string, "oracle") == 0)
      ok = read_oracle(f, s, &v);
    else if (sec && sec->type == ELIGN_JSON_STRING && strcmp(sec->string, "dft") == 0)
      ok = read_dft(f, s, &v);
    if (!ok) {
      f->bad_records++;
      elign_warn("%s line %lld: malformed record skipped", f->journal_path, (long long)lineno);
    } else {
      f->resumed_records++;
    }
    elign_json_free(&v);
  }
  free(line);
  *keep = pos;
  return st;
}

elign_status eval_journal_open(eval_file *f, const eval_settings *s, const char *run_dir, int restart,
                               elign_error *err) {
  if (mkdir_p(run_dir) != 0)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "cannot create the run directory %s: %s", run_dir, strerror(errno));
  const char *base = strrchr(f->path, '/') ? strrchr(f->path, '/') + 1 : f->path;
  snprintf(f->journal_path, sizeof f->journal_path, "%s/%s.%016llx.jsonl", run_dir, base,
           (unsigned long long)f->digest);
  if (restart && unlink(f->journal_path) != 0 && errno != ENOENT)
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot remove: %s", f->journal_path, strerror(errno));
  off_t keep = 0;
  FILE *in = fopen(f->journal_path, "r");
  if (in) {
    elign_status st = read_journal(f, s, in, &keep, err);
    fclose(in);
    if (st) return st;
  }
  f->journal_fd = open(f->journal_path, O_WRONLY | O_APPEND | O_CREAT, 0666);
  if (f->journal_fd < 0) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", f->journal_path, strerror(errno));
  struct stat sb;
  if (fstat(f->journal_fd, &sb) == 0 && sb.st_size > keep) { /* cut a torn last line */
    if (ftruncate(f->journal_fd, keep) != 0)
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot cut a torn line: %s", f->journal_path, strerror(errno));
    elign_warn("%s: cut a torn last record (%lld bytes)", f->journal_path, (long long)(sb.st_size - keep));
  }
  if (keep == 0) {
    elign_status st = write_header(f, s, err);
    if (st) return st;
  }
  for (int64_t k = 0; k < f->n_chunks; k++) {
    int all = f->chem_done[k];
    for (int b = 0; b < s->n_backends; b++) all &= f->oracle_done[b][k];
    f->resumed_chunks += all;
  }
  return ELIGN_OK;
}

void eval_journal_close(eval_file *f) {
  if (f->journal_fd >= 0) close(f->journal_fd);
  f->journal_fd = -1;
}
