/* smiles_set.c — open addressing with linear probing over a table of ids;
 * the strings themselves sit in an array indexed by id. */
#include "common/chem/smiles_set.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct elign_smiles_set {
  char **str;        /* [cap_str] by id */
  uint64_t *hash;    /* [cap_str] hash of each string, so growth needs no rehashing of text */
  int64_t n, cap_str;
  int64_t *slot;     /* [n_slots] id or -1; n_slots a power of two */
  int64_t n_slots;
};

/* FNV-1a, 64 bit. */
static uint64_t hash_string(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return h;
}

elign_smiles_set *elign_smiles_set_new(void) {
  elign_smiles_set *set = elign_calloc(1, sizeof *set, "smiles_set");
  set->n_slots = 64;
  set->slot = elign_malloc((size_t)set->n_slots * sizeof *set->slot, "smiles_set:slots");
  for (int64_t k = 0; k < set->n_slots; k++) set->slot[k] = -1;
  return set;
}

void elign_smiles_set_free(elign_smiles_set **set) {
  if (!set || !*set) return;
  elign_smiles_set *s = *set;
  for (int64_t k = 0; k < s->n; k++) elign_free(s->str[k]);
  elign_free(s->str);
  elign_free(s->hash);
  elign_free(s->slot);
  elign_free(*set);
}

/* Slot holding s, or the empty slot where it would go. */
static int64_t find_slot(const elign_smiles_set *set, const char *s, uint64_t h) {
  int64_t mask = set->n_slots - 1, k = (int64_t)(h & (uint64_t)mask);
  while (set->slot[k] >= 0) {
    int64_t id = set->slot[k];
    if (set->hash[id] == h && strcmp(set->str[id], s) == 0) return k;
    k = (k + 1) & mask;
  }
  return k;
}

/* Keep the load factor at most 1/2. */
static void grow_slots(elign_smiles_set *set) {
  int64_t n_slots = set->n_slots * 2, mask = n_slots - 1;
  int64_t *slot = elign_malloc((size_t)n_slots * sizeof *slot, "smiles_set:slots");
  for (int64_t k = 0; k < n_slots; k++) slot[k] = -1;
  for (int64_t id = 0; id < set->n; id++) {
    int64_t k = (int64_t)(set->hash[id] & (uint64_t)mask);
    while (slot[k] >= 0) k = (k + 1) & mask;
    slot[k] = id;
  }
  elign_free(set->slot);
  set->slot = slot;
  set->n_slots = n_slots;
}

int64_t elign_smiles_set_insert(elign_smiles_set *set, const char *s, int *added) {
  uint64_t h = hash_string(s);
  int64_t k = find_slot(set, s, h);
  if (set->slot[k] >= 0) {
    if (added) *added = 0;
    return set->slot[k];
  }
  if (set->n == set->cap_str) {
    set->cap_str = set->cap_str ? 2 * set->cap_str : 64;
    set->str = elign_realloc(set->str, (size_t)set->cap_str * sizeof *set->str, "smiles_set:strings");
    set->hash = elign_realloc(set->hash, (size_t)set->cap_str * sizeof *set->hash, "smiles_set:hashes");
  }
  int64_t id = set->n++;
  set->str[id] = elign_strdup(s, "smiles_set:string");
  set->hash[id] = h;
  set->slot[k] = id;
  if (2 * set->n > set->n_slots) grow_slots(set);
  if (added) *added = 1;
  return id;
}

int64_t elign_smiles_set_find(const elign_smiles_set *set, const char *s) {
  return set->slot[find_slot(set, s, hash_string(s))];
}

int64_t elign_smiles_set_size(const elign_smiles_set *set) { return set->n; }

const char *elign_smiles_set_get(const elign_smiles_set *set, int64_t id) {
  ELIGN_ASSERT(id >= 0 && id < set->n);
  return set->str[id];
}

/* One line without its newline (and '\r'): 0 at EOF, 1 read; *buf grows. */
static int read_line(FILE *f, char **buf, size_t *cap) {
  size_t len = 0;
  int c;
  while ((c = fgetc(f)) != EOF && c != '\n') {
    if (len + 1 >= *cap) {
      *cap = *cap ? 2 * *cap : 256;
      *buf = elign_realloc(*buf, *cap, "smiles_set:line");
    }
    (*buf)[len++] = (char)c;
  }
  if (c == EOF && len == 0) return 0;
  if (len && (*buf)[len - 1] == '\r') len--;
  if (!*buf) *buf = elign_calloc(1, 1, "smiles_set:line");
  (*buf)[len] = '\0';
  return 1;
}

elign_status elign_smiles_set_load(elign_smiles_set *set, const char *path, int64_t *n_lines, elign_error *err) {
  if (n_lines) *n_lines = 0;
  FILE *f = fopen(path, "r");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open SMILES file: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  int64_t lineno = 0, count = 0;
  elign_status st = ELIGN_OK;
  while (read_line(f, &line, &cap)) {
    lineno++;
    if (line[0] == '#') continue;
    if (!line[0]) {
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s:%lld: empty line (one SMILES per line expected)", path,
                      (long long)lineno);
      break;
    }
    if (strpbrk(line, " \t\v\f\r")) {
      st = ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s:%lld: whitespace inside a SMILES line: '%s'", path,
                      (long long)lineno, line);
      break;
    }
    elign_smiles_set_insert(set, line, NULL);
    count++;
  }
  if (st == ELIGN_OK && ferror(f)) st = ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: read error", path);
  fclose(f);
  elign_free(line);
  if (n_lines) *n_lines = count;
  return st;
}
