/* provenance.c — the process-wide provenance record (provenance.h). */
#include "common/base/provenance.h"

#include "common/base/launch_env.h"

#include <errno.h>
#include <hdf5.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ELIGN_WITH_OPENSSL
#include <openssl/evp.h>
#endif
#ifdef ELIGN_WITH_XTB
#include <xtb.h>
#endif

#include "common/base/memory.h"

/* OpenBLAS (no header declares these portably). */
char *openblas_get_config(void);
int openblas_get_num_threads(void);

/* cmake/build_info.cmake, generated at build time. */
extern const char elign_build_git_commit[];
extern const int elign_build_git_dirty;

const char *elign_provenance_build_commit(void) { return elign_build_git_commit; }
int elign_provenance_build_dirty(void) { return elign_build_git_dirty; }

#define PROV_MAX_INPUTS 1024
#define PROV_MAX_VERSIONS 16

typedef struct {
  char role[48];
  char *path;
  char sha256[ELIGN_SHA256_HEX];
  int64_t bytes;
  char *problem; /* why no hash, or NULL */
} prov_input;

static struct {
  int omit_config;  /* the config text left out (a record that must stay small) */
  char command[48];
  char *config;
  char config_sha256[ELIGN_SHA256_HEX];
  int have_seed;
  uint64_t seed;
  int have_layout, world, actors, oracles, dft;
  int n_inputs;
  prov_input inputs[PROV_MAX_INPUTS];
  int n_versions;
  char version_name[PROV_MAX_VERSIONS][32];
  char version_text[PROV_MAX_VERSIONS][128];
} P;

void elign_provenance_set_command(const char *command) { snprintf(P.command, sizeof P.command, "%s", command); }

void elign_provenance_set_config(const char *resolved_text) {
  free(P.config);
  P.config = resolved_text ? strdup(resolved_text) : NULL;
  if (P.config) elign_provenance_text_sha256(P.config, P.config_sha256);
}

void elign_provenance_set_seed(uint64_t seed) { P.have_seed = 1, P.seed = seed; }

void elign_provenance_set_layout(int world, int actors, int oracle_ranks, int dft_ranks) {
  P.have_layout = 1, P.world = world, P.actors = actors, P.oracles = oracle_ranks, P.dft = dft_ranks;
}

void elign_provenance_set_version(const char *library, const char *version) {
  int i = 0;
  while (i < P.n_versions && strcmp(P.version_name[i], library) != 0) i++;
  if (i == PROV_MAX_VERSIONS) return;
  if (i == P.n_versions) P.n_versions++;
  snprintf(P.version_name[i], sizeof P.version_name[i], "%s", library);
  snprintf(P.version_text[i], sizeof P.version_text[i], "%s", version ? version : "");
}

/* ---- hashing ---------------------------------------------------------------------- */

static void to_hex(const unsigned char *d, size_t n, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) hex[2 * i] = digits[d[i] >> 4], hex[2 * i + 1] = digits[d[i] & 15];
  hex[2 * n] = 0;
}

#ifdef ELIGN_WITH_OPENSSL
typedef EVP_MD_CTX *hash_ctx;
static hash_ctx hash_begin(void) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  return c;
}
static void hash_update(hash_ctx *c, const void *p, size_t n) { EVP_DigestUpdate(*c, p, n); }
static void hash_end(hash_ctx *c, char hex[ELIGN_SHA256_HEX]) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(*c, d, &n);
  EVP_MD_CTX_free(*c);
  to_hex(d, n, hex);
}
#else
typedef uint64_t hash_ctx;
static hash_ctx hash_begin(void) { return 1469598103934665603ull; }
static void hash_update(hash_ctx *c, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) *c = (*c ^ b[i]) * 1099511628211ull;
}
static void hash_end(hash_ctx *c, char hex[ELIGN_SHA256_HEX]) {
  snprintf(hex, ELIGN_SHA256_HEX, "fnv1a64:%016llx", (unsigned long long)*c);
}
#endif

void elign_provenance_text_sha256(const char *text, char hex[ELIGN_SHA256_HEX]) {
  hash_ctx c = hash_begin();
  hash_update(&c, text, strlen(text));
  hash_end(&c, hex);
}

elign_status elign_provenance_file_sha256(const char *path, char hex[ELIGN_SHA256_HEX], int64_t *bytes,
                                          elign_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open for hashing: %s", path, strerror(errno));
  hash_ctx c = hash_begin();
  unsigned char buf[1 << 16];
  size_t n;
  int64_t total = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) hash_update(&c, buf, n), total += (int64_t)n;
  int bad = ferror(f);
  fclose(f);
  hash_end(&c, hex);
  if (bytes) *bytes = total;
  if (bad) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: read error while hashing", path);
  return ELIGN_OK;
}

void elign_provenance_add_input(const char *role, const char *path) {
  if (!path) return;
  for (int i = 0; i < P.n_inputs; i++)
    if (strcmp(P.inputs[i].path, path) == 0 && strcmp(P.inputs[i].role, role) == 0) return;
  if (P.n_inputs == PROV_MAX_INPUTS) return;
  prov_input *in = &P.inputs[P.n_inputs++];
  memset(in, 0, sizeof *in);
  snprintf(in->role, sizeof in->role, "%s", role);
  in->path = strdup(path);
  elign_error e;
  elign_error_clear(&e);
  if (elign_provenance_file_sha256(path, in->sha256, &in->bytes, &e)) {
    in->sha256[0] = 0;
    in->problem = strdup(e.msg);
  }
}

const char *elign_provenance_input_sha256(const char *path) {
  for (int i = 0; i < P.n_inputs; i++)
    if (strcmp(P.inputs[i].path, path) == 0 && P.inputs[i].sha256[0]) return P.inputs[i].sha256;
  return NULL;
}

/* ---- the record ----------------------------------------------------------------- */

static void write_libraries(elign_json_writer *w) {
  elign_jw_begin_object(w, "libraries");
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  char *nl = strchr(mpi, '\n');
  if (nl) *nl = 0;
  for (char *p = mpi + strlen(mpi); p > mpi && (p[-1] == ',' || p[-1] == ' '); p--) p[-1] = 0;
  elign_jw_string(w, "mpi", mpi);
  elign_jw_string(w, "openblas", openblas_get_config());
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  char v[64];
  snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
  elign_jw_string(w, "hdf5", v);
#ifdef ELIGN_WITH_XTB
#ifdef ELIGN_XTB_VERSION
  elign_jw_string(w, "libxtb", ELIGN_XTB_VERSION); /* pkg-config's version of the library linked */
#endif
  int x = xtb_getAPIVersion();
  snprintf(v, sizeof v, "%d.%d.%d", x / 10000, x / 100 % 100, x % 100);
  elign_jw_string(w, "libxtb_api", v);
#else
  elign_jw_null(w, "libxtb");
#endif
  for (int i = 0; i < P.n_versions; i++) elign_jw_string(w, P.version_name[i], P.version_text[i]);
  elign_jw_end(w);
}

/* An ANI model as one input: the .info file's path, the number of files read
 * for it (the .info and every file after it up to the next .info), their
 * bytes, and the sha256 of their sha256 hex digests in read order (a file
 * that could not be hashed makes it null). Keeps the record small: a model is
 * ~60 files. Returns the index after the group. */
static int write_model_group(elign_json_writer *w, int first) {
  int end = first + 1;
  while (end < P.n_inputs && strcmp(P.inputs[end].role, "ani") == 0) {
    size_t n = strlen(P.inputs[end].path);
    if (n > 5 && strcmp(P.inputs[end].path + n - 5, ".info") == 0) break;
    end++;
  }
  hash_ctx c = hash_begin();
  int64_t bytes = 0;
  int complete = 1;
  for (int k = first; k < end; k++) {
    hash_update(&c, P.inputs[k].sha256, strlen(P.inputs[k].sha256));
    bytes += P.inputs[k].bytes;
    complete &= P.inputs[k].sha256[0] != 0;
  }
  char hex[ELIGN_SHA256_HEX];
  hash_end(&c, hex);
  elign_jw_begin_object(w, NULL);
  elign_jw_string(w, "role", "ani model");
  elign_jw_string(w, "path", P.inputs[first].path);
  elign_jw_int(w, "files", end - first);
  elign_jw_string(w, "sha256_of_file_sha256s", complete ? hex : NULL);
  elign_jw_int(w, "bytes", bytes);
  elign_jw_end(w);
  return end;
}

void elign_provenance_write_json(elign_json_writer *w, const char *key) {
  elign_jw_begin_object(w, key);
  elign_jw_begin_object(w, "elign_c");
#ifdef ELIGN_VERSION
  elign_jw_string(w, "version", ELIGN_VERSION);
#endif
  elign_jw_string(w, "git_commit", elign_build_git_commit);
  if (elign_build_git_dirty < 0) elign_jw_null(w, "git_dirty");
  else elign_jw_bool(w, "git_dirty", elign_build_git_dirty);
#ifdef ELIGN_DOUBLE
  elign_jw_string(w, "real", "double");
#else
  elign_jw_string(w, "real", "float");
#endif
  elign_jw_end(w);
  elign_jw_string(w, "command", P.command[0] ? P.command : NULL);
  elign_jw_begin_object(w, "config");
  elign_jw_string(w, "sha256", P.config ? P.config_sha256 : NULL);
  if (P.omit_config && P.config) {
    char note[96];
    snprintf(note, sizeof note, "(omitted here: %zu bytes; RUN/config.yaml or the checkpoint's config)", strlen(P.config));
    elign_jw_string(w, "resolved", note);
  } else {
    elign_jw_string(w, "resolved", P.config);
  }
  elign_jw_end(w);
  if (P.have_seed) elign_jw_int(w, "seed", (long long)P.seed);
  else elign_jw_null(w, "seed");
  elign_jw_begin_object(w, "layout");
  if (P.have_layout) {
    elign_jw_int(w, "ranks", P.world);
    elign_jw_int(w, "actor_ranks", P.actors);
    elign_jw_int(w, "oracle_ranks", P.oracles);
    elign_jw_int(w, "dft_ranks", P.dft);
  }
  elign_jw_int(w, "omp_threads", omp_get_max_threads());
  elign_jw_int(w, "openblas_threads", openblas_get_num_threads());
  elign_jw_string(w, "omp_wait_policy", getenv("OMP_WAIT_POLICY")); /* common/base/launch_env.h */
  elign_jw_string(w, "gomp_spincount", getenv("GOMP_SPINCOUNT"));
  elign_jw_string(w, "openblas_core", elign_openblas_core());
  elign_jw_end(w);
  write_libraries(w);
  elign_jw_begin_array(w, "inputs");
  for (int i = 0; i < P.n_inputs; i++) {
    const prov_input *in = &P.inputs[i];
    if (strcmp(in->role, "ani") == 0) { /* one entry per ANI model: its .info and every file read after it */
      i = write_model_group(w, i) - 1;
      continue;
    }
    elign_jw_begin_object(w, NULL);
    elign_jw_string(w, "role", in->role);
    elign_jw_string(w, "path", in->path);
    elign_jw_string(w, "sha256", in->sha256[0] ? in->sha256 : NULL);
    elign_jw_int(w, "bytes", in->bytes);
    if (in->problem) elign_jw_string(w, "problem", in->problem);
    elign_jw_end(w);
  }
  elign_jw_end(w);
  elign_jw_end(w);
}

char *elign_provenance_json_max(size_t max_bytes) {
  char *text = elign_provenance_json();
  if (strlen(text) < max_bytes) return text;
  free(text);
  P.omit_config = 1;
  text = elign_provenance_json();
  P.omit_config = 0;
  return text;
}

char *elign_provenance_json(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return strdup("{}");
  elign_json_writer w;
  elign_jw_init(&w, f, 0);
  elign_provenance_write_json(&w, NULL);
  fclose(f);
  return text;
}

void elign_provenance_reset(void) {
  free(P.config);
  for (int i = 0; i < P.n_inputs; i++) free(P.inputs[i].path), free(P.inputs[i].problem);
  memset(&P, 0, sizeof P);
}
