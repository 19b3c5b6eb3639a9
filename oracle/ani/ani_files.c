/* ani_files.c — reading a NeuroChem model-zoo ensemble (ANI.md §1–§5, §7).
 *
 * .info  → params path, SAE path, member prefix, ensemble size
 * .params → AEV constants (list values rounded through float32, §3)
 * sae_linfit.dat → self atomic energies (double)
 * <prefix><k>/networks/ANN-<E>.nnf → "<len>=\n" + bzip2 text describing the layers
 * ANN-<E>.nnf-l<l>.wparam/.bparam → raw little-endian float32
 *
 * Every error names the file at fault. */
#include <bzlib.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle/ani/ani_impl.h"

/* The integer that starts s (after blanks), if it is one and fits an int:
 * atoi would turn "9999999999" into undefined behaviour and "x" into 0. */
static int int_prefix(const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || errno == ERANGE || v < -2147483647L || v > 2147483647L) return 0;
  *out = (int)v;
  return 1;
}

#define ANI_PATH_MAX 4096

/* ------------------------------------------------------------------------ */
/* small helpers                                                              */

static ani_file_observer file_observer; /* ani.h: told every file the engine reads */

void ani_set_file_observer(ani_file_observer fn) { file_observer = fn; }

static elign_status read_whole_file(const char *path, char **data, size_t *size, elign_error *err) {
  *data = NULL;
  *size = 0;
  if (file_observer) file_observer(path);
  FILE *f = fopen(path, "rb");
  if (!f) return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
  }
  long len = ftell(f);
  rewind(f);
  if (len < 0) {
    fclose(f);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: cannot size: %s", path, strerror(errno));
  }
  char *buf = elign_malloc((size_t)len + 1, "ani:file");
  size_t got = fread(buf, 1, (size_t)len, f);
  fclose(f);
  if (got != (size_t)len) {
    elign_free(buf);
    return ELIGN_FAIL(err, ELIGN_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, len);
  }
  buf[len] = '\0';
  *data = buf;
  *size = (size_t)len;
  return ELIGN_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

/* Directory part of path ("." if none), into out. */
static void dir_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(out, cap, ".");
  } else if (slash == path) {
    snprintf(out, cap, "/");
  } else {
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
  }
}

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  fclose(f);
  return 1;
}

static int element_z(const char *sym) {
  static const char *table[] = {"",   "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al",
                                "Si", "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co",
                                "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb",
                                "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe"};
  for (int z = 1; z < (int)(sizeof table / sizeof table[0]); z++)
    if (strcmp(sym, table[z]) == 0) return z;
  return -1;
}

/* ------------------------------------------------------------------------ */
/* .params (§3)                                                              */

/* Parses "[a,b,c]" into vals (rounded through float32). Returns count or −1. */
static int parse_float32_list(const char *text, double *vals, int cap) {
  const char *p = strchr(text, '[');
  if (!p) return -1;
  p++;
  int n = 0;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (*p == ']') break;
    char *end;
    double v = strtod(p, &end);
    if (end == p || n >= cap) return -1;
    vals[n++] = (double)(float)v; /* TorchANI keeps these as float32 tensors */
    p = end;
    while (isspace((unsigned char)*p)) p++;
    if (*p == ',') p++;
    else if (*p != ']') return -1;
  }
  return n;
}

static int parse_symbol_list(const char *text, int *zs, int cap) {
  const char *p = strchr(text, '[');
  if (!p) return -1;
  p++;
  int n = 0;
  char sym[8];
  for (;;) {
    while (isspace((unsigned char)*p) || *p == ',') p++;
    if (*p == ']') break;
    int k = 0;
    while (isalpha((unsigned char)*p) && k < 7) sym[k++] = *p++;
    sym[k] = '\0';
    if (k == 0 || n >= cap) return -1;
    int z = element_z(sym);
    if (z < 0) return -2;
    zs[n++] = z;
  }
  return n;
}

static elign_status read_params(const char *path, ani_model *m, elign_error *err) {
  char *text;
  size_t size;
  elign_status st = read_whole_file(path, &text, &size, err);
  if (st) return st;
  ani_aev_params *p = &m->aev;
  int have_rcr = 0, have_rca = 0, n_eta_r = -1, n_eta_a = -1, n_zeta = -1, n_atyp = -1;
  double one[ANI_MAX_SHELLS];
  p->n_rad = p->n_ang = p->n_zeta = -1;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = '\0';
    char *key = trim(line), *val = trim(eq + 1);
    if (!strcmp(key, "Rcr")) {
      p->rc_rad = strtod(val, NULL);
      have_rcr = 1;
    } else if (!strcmp(key, "Rca")) {
      p->rc_ang = strtod(val, NULL);
      have_rca = 1;
    } else if (!strcmp(key, "EtaR")) {
      n_eta_r = parse_float32_list(val, one, ANI_MAX_SHELLS);
      p->eta_r = one[0];
    } else if (!strcmp(key, "EtaA")) {
      n_eta_a = parse_float32_list(val, one, ANI_MAX_SHELLS);
      p->eta_a = one[0];
    } else if (!strcmp(key, "Zeta")) {
      n_zeta = parse_float32_list(val, one, ANI_MAX_SHELLS);
      p->zeta = one[0];
    } else if (!strcmp(key, "ShfR")) {
      p->n_rad = parse_float32_list(val, p->shf_r, ANI_MAX_SHELLS);
    } else if (!strcmp(key, "ShfA")) {
      p->n_ang = parse_float32_list(val, p->shf_a, ANI_MAX_SHELLS);
    } else if (!strcmp(key, "ShfZ")) {
      p->n_zeta = parse_float32_list(val, p->shf_z, ANI_MAX_SHELLS);
    } else if (!strcmp(key, "Atyp")) {
      n_atyp = parse_symbol_list(val, m->species_z, ANI_MAX_SPECIES);
      if (n_atyp == -2) {
        elign_free(text);
        return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: Atyp has an unknown element symbol: %s", path, val);
      }
    }
  }
  elign_free(text);
  if (!have_rcr || !have_rca || !(p->rc_rad > 0) || !(p->rc_ang > 0))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing or non-positive Rcr / Rca", path);
  if (n_eta_r != 1 || n_eta_a != 1 || n_zeta != 1)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: EtaR, EtaA and Zeta must be one-element lists", path);
  if (p->n_rad < 1 || p->n_ang < 1 || p->n_zeta < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing or malformed ShfR / ShfA / ShfZ list", path);
  if (n_atyp < 1) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: missing or malformed Atyp list", path);
  int S = n_atyp;
  m->n_species = S;
  p->n_species = S;
  p->radial_length = S * p->n_rad;
  p->angular_block = p->n_ang * p->n_zeta;
  p->aev_length = p->radial_length + S * (S + 1) / 2 * p->angular_block;
  for (int q = 0; q < p->n_zeta; q++) {
    p->cos_shf_z[q] = cos(p->shf_z[q]);
    p->sin_shf_z[q] = sin(p->shf_z[q]);
  }
  for (int z = 0; z < 128; z++) m->z_to_species[z] = -1;
  for (int s = 0; s < S; s++) m->z_to_species[m->species_z[s]] = s;
  return ELIGN_OK;
}

/* ------------------------------------------------------------------------ */
/* sae_linfit.dat (§4): lines "SYMBOL,INDEX=VALUE"                           */

static elign_status read_sae(const char *path, ani_model *m, elign_error *err) {
  char *text;
  size_t size;
  elign_status st = read_whole_file(path, &text, &size, err);
  if (st) return st;
  int seen[ANI_MAX_SPECIES] = {0};
  char *save = NULL;
  int line_no = 0;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    line_no++;
    char *l = trim(line);
    if (!*l) continue;
    char *comma = strchr(l, ','), *eq = strchr(l, '=');
    if (!comma || !eq || eq < comma) {
      elign_free(text);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s:%d: expected SYMBOL,INDEX=VALUE", path, line_no);
    }
    *comma = '\0';
    int idx = -1;
    char *end;
    double v = strtod(eq + 1, &end);
    int z = element_z(trim(l));
    if (!int_prefix(comma + 1, &idx) || idx < 0 || idx >= m->n_species || end == eq + 1 || z != m->species_z[idx]) {
      elign_free(text);
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s:%d: element %s index %d does not match the params Atyp list",
                        path, line_no, l, idx);
    }
    m->sae[idx] = v;
    seen[idx] = 1;
  }
  elign_free(text);
  for (int s = 0; s < m->n_species; s++)
    if (!seen[s]) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no self energy for species index %d", path, s);
  return ELIGN_OK;
}

/* ------------------------------------------------------------------------ */
/* .nnf (§7.1, §7.2)                                                         */

typedef struct {
  int nodes, blocksize, activation, type, btchnorm;
  char wfile[256], bfile[256];
  long wcount, bcount;
} nnf_layer;

/* Decompress "<len>=\n<bzip2>" into a NUL-terminated text. */
static elign_status nnf_decompress(const char *path, char **text_out, elign_error *err) {
  char *raw;
  size_t size;
  elign_status st = read_whole_file(path, &raw, &size, err);
  if (st) return st;
  char *eq = memchr(raw, '=', size < 32 ? size : 32);
  char *end;
  long declared = strtol(raw, &end, 10);
  if (!eq || end != eq || declared <= 0 || declared > (1L << 26)) {
    elign_free(raw);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: not a NeuroChem .nnf (expected '<length>=' header)", path);
  }
  char *stream = eq + 1;
  if (stream < raw + size && *stream == '\r') stream++;
  if (stream < raw + size && *stream == '\n') stream++;
  unsigned int out_len = (unsigned int)declared;
  char *text = elign_malloc((size_t)declared + 1, "ani:nnf_text");
  int rc = BZ2_bzBuffToBuffDecompress(text, &out_len, stream, (unsigned int)(raw + size - stream), 0, 0);
  elign_free(raw);
  if (rc != BZ_OK) {
    elign_free(text);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: bzip2 decompression failed (code %d)", path, rc);
  }
  text[out_len] = '\0'; /* the stream's own trailing NUL (if any) ends the string too */
  *text_out = text;
  return ELIGN_OK;
}

/* value of "key=" inside [begin, end) (a layer block) or NULL. */
static const char *layer_value(const char *begin, const char *end, const char *key) {
  size_t kl = strlen(key);
  for (const char *p = begin; p + kl < end; p++) {
    if ((p == begin || !isalnum((unsigned char)p[-1])) && !strncmp(p, key, kl)) {
      const char *q = p + kl;
      while (q < end && isspace((unsigned char)*q)) q++;
      if (q < end && *q == '=') {
        q++;
        while (q < end && isspace((unsigned char)*q)) q++;
        return q;
      }
    }
  }
  return NULL;
}

static int parse_file_ref(const char *v, const char *end, char *name, size_t cap, long *count) {
  if (!v || strncmp(v, "FILE:", 5)) return 0;
  v += 5;
  const char *br = v;
  while (br < end && *br != '[') br++;
  if (br >= end || (size_t)(br - v) >= cap) return 0;
  memcpy(name, v, (size_t)(br - v));
  name[br - v] = '\0';
  char *t;
  errno = 0;
  *count = strtol(br + 1, &t, 10);
  return *t == ']' && t != br + 1 && errno != ERANGE && *count >= 0;
}

static elign_status nnf_parse(const char *path, const char *text, int *input_size, nnf_layer *layers,
                              int *n_layers, elign_error *err) {
  const char *in = strstr(text, "inputsize");
  if (!in || !(in = strchr(in, '=')))
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no inputsize", path);
  if (!int_prefix(in + 1, input_size) || *input_size < 1)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: inputsize is not a positive integer", path);
  *n_layers = 0;
  const char *p = text;
  while ((p = strstr(p, "layer"))) {
    const char *open = strchr(p, '[');
    const char *close = open ? strchr(open, ']') : NULL;
    if (!open || !close) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: unterminated layer block", path);
    /* skip the ']' that belongs to a FILE:name[count] reference */
    while (close) {
      const char *semi = close + 1;
      while (*semi && isspace((unsigned char)*semi)) semi++;
      if (*semi != ';') break;
      close = strchr(close + 1, ']');
    }
    if (!close) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: unterminated layer block", path);
    if (*n_layers >= ANI_MAX_LAYERS)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: more than %d layers", path, ANI_MAX_LAYERS);
    nnf_layer *L = &layers[(*n_layers)++];
    const char *keys[] = {"nodes", "blocksize", "activation", "type", "btchnorm", "weights", "biases"};
    const char *v[7];
    for (int k = 0; k < 7; k++) {
      v[k] = layer_value(open, close, keys[k]);
      if (!v[k])
        return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d has no '%s' key", path, *n_layers, keys[k]);
    }
    int *ints[5] = {&L->nodes, &L->blocksize, &L->activation, &L->type, &L->btchnorm};
    for (int k = 0; k < 5; k++)
      if (!int_prefix(v[k], ints[k]))
        return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d: '%s' is not an integer", path, *n_layers, keys[k]);
    if (!parse_file_ref(v[5], close + 1, L->wfile, sizeof L->wfile, &L->wcount) ||
        !parse_file_ref(v[6], close + 1, L->bfile, sizeof L->bfile, &L->bcount))
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d: malformed FILE:name[count] reference", path,
                        *n_layers);
    p = close + 1;
  }
  if (*n_layers == 0) return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: no layer blocks", path);
  return ELIGN_OK;
}

/* Reads count little-endian float32 values into dst (elign_real). */
static elign_status read_float32_file(const char *path, long count, elign_real *dst, elign_error *err) {
  char *raw;
  size_t size;
  elign_status st = read_whole_file(path, &raw, &size, err);
  if (st) return st;
  if (size != (size_t)count * 4) {
    elign_free(raw);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: size %zu bytes, expected %ld float32 values (%ld bytes)", path,
                      size, count, count * 4);
  }
  for (long i = 0; i < count; i++) {
    const unsigned char *b = (const unsigned char *)raw + 4 * i;
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    dst[i] = (elign_real)f;
  }
  elign_free(raw);
  return ELIGN_OK;
}

/* Loads member `member`'s network for species s from dir/ANN-<E>.nnf. The
 * first layer's weights go into the species' stacked buffer (allocated by
 * the first member). */
static elign_status read_network(const char *dir, int member, int s, ani_model *m, elign_error *err) {
  static const char *sym[] = {"",   "H",  "He", "Li", "Be", "B",  "C", "N",  "O",  "F",  "Ne", "Na",
                              "Mg", "Al", "Si", "P",  "S",  "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V",
                              "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br"};
  int z = m->species_z[s];
  if (z <= 0 || z >= (int)(sizeof sym / sizeof sym[0]))
    return ELIGN_FAIL(err, ELIGN_ERR_UNSUPPORTED, "element Z=%d has no network file naming rule", z);
  char path[2 * ANI_PATH_MAX];
  snprintf(path, sizeof path, "%s/ANN-%s.nnf", dir, sym[z]);
  char *text = NULL;
  elign_status st = nnf_decompress(path, &text, err);
  if (st) return st;
  nnf_layer layers[ANI_MAX_LAYERS];
  int input_size = 0, n_layers = 0;
  st = nnf_parse(path, text, &input_size, layers, &n_layers, err);
  elign_free(text);
  if (st) return st;

  const int D = m->aev.aev_length, M = m->n_members;
  if (input_size != D || layers[0].blocksize != D)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: inputsize %d / first blocksize %d, but the AEV has length %d",
                      path, input_size, layers[0].blocksize, D);
  for (int l = 0; l < n_layers; l++) {
    nnf_layer *L = &layers[l];
    if (l > 0 && L->blocksize != layers[l - 1].nodes)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d blocksize %d != nodes %d of layer %d", path, l + 1,
                        L->blocksize, layers[l - 1].nodes, l);
    if (L->nodes < 1 || L->wcount != (long)L->nodes * L->blocksize || L->bcount != L->nodes)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d: weight count %ld / bias count %ld do not match %d x %d",
                        path, l + 1, L->wcount, L->bcount, L->nodes, L->blocksize);
    if (L->type != 0 || L->btchnorm != 0)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: layer %d: type=%d btchnorm=%d (only dense, no batch norm)", path,
                        l + 1, L->type, L->btchnorm);
    if (L->activation != ANI_ACT_CELU && L->activation != ANI_ACT_LINEAR)
      return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                        "%s: layer %d: activation %d not supported (9 = CELU(0.1), 6 = linear)", path, l + 1,
                        L->activation);
  }
  if (n_layers < 2)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: %d layer(s); expected hidden layers and an output layer", path,
                      n_layers);
  if (layers[n_layers - 1].nodes != 1 || layers[n_layers - 1].activation != ANI_ACT_LINEAR)
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: the output layer must have 1 node and linear activation", path);

  ani_net *net = &m->nets[member * m->n_species + s];
  net->n_layers = n_layers;
  int n1 = layers[0].nodes;
  if (member == 0) {
    m->w1_stack[s] = elign_malloc_aligned((size_t)M * n1 * D * sizeof(elign_real), "ani:w1_stack");
    m->b1_stack[s] = elign_malloc((size_t)M * n1 * sizeof(elign_real), "ani:b1_stack");
  } else if (m->nets[s].layer[0].n_out != n1) {
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT, "%s: first layer has %d nodes, member 0 has %d (must agree)", path, n1,
                      m->nets[s].layer[0].n_out);
  }
  for (int l = 0; l < n_layers; l++) {
    ani_layer *L = &net->layer[l];
    L->n_in = layers[l].blocksize;
    L->n_out = layers[l].nodes;
    L->activation = layers[l].activation;
    if (l == 0) {
      L->w = m->w1_stack[s] + (size_t)member * n1 * D;
      L->b = m->b1_stack[s] + (size_t)member * n1;
    } else {
      L->w = elign_malloc_aligned((size_t)L->n_out * L->n_in * sizeof(elign_real), "ani:w");
      L->b = elign_malloc((size_t)L->n_out * sizeof(elign_real), "ani:b");
    }
    char fpath[2 * ANI_PATH_MAX + 256];
    snprintf(fpath, sizeof fpath, "%s/%s", dir, layers[l].wfile);
    if ((st = read_float32_file(fpath, layers[l].wcount, L->w, err))) return st;
    snprintf(fpath, sizeof fpath, "%s/%s", dir, layers[l].bfile);
    if ((st = read_float32_file(fpath, layers[l].bcount, L->b, err))) return st;
  }
  return ELIGN_OK;
}

/* ------------------------------------------------------------------------ */
/* .info (§2) and the whole model                                            */

elign_status ani_model_read(const char *info_path, const char *name, ani_model **out, elign_error *err) {
  *out = NULL;
  char *text;
  size_t size;
  elign_status st = read_whole_file(info_path, &text, &size, err);
  if (st) return st;
  char *lines[4] = {0};
  char *save = NULL;
  int n = 0;
  for (char *l = strtok_r(text, "\n", &save); l && n < 4; l = strtok_r(NULL, "\n", &save)) lines[n++] = trim(l);
  char dir[ANI_PATH_MAX / 2], params[ANI_PATH_MAX], sae[ANI_PATH_MAX], prefix[ANI_PATH_MAX];
  dir_of(info_path, dir, sizeof dir);
  int members = 0;
  if (n < 4 || !int_prefix(lines[3], &members) || members < 1 || members > ANI_MAX_MEMBERS) {
    elign_free(text);
    return ELIGN_FAIL(err, ELIGN_ERR_FORMAT,
                      "%s: expected 4 lines (params path, sae path, member prefix, ensemble size 1..%d)", info_path,
                      ANI_MAX_MEMBERS);
  }
  snprintf(params, sizeof params, "%s/%s", dir, lines[0]);
  snprintf(sae, sizeof sae, "%s/%s", dir, lines[1]);
  snprintf(prefix, sizeof prefix, "%s/%s", dir, lines[2]);
  elign_free(text);

  ani_model *m = elign_calloc(1, sizeof *m, "ani:model");
  m->name = elign_strdup(name, "ani:name");
  m->n_members = members;
  if ((st = read_params(params, m, err)) || (st = read_sae(sae, m, err))) goto fail;
  m->nets = elign_calloc((size_t)members * m->n_species, sizeof(ani_net), "ani:nets");
  for (int k = 0; k < members; k++) {
    char netdir[ANI_PATH_MAX + 32];
    snprintf(netdir, sizeof netdir, "%s%d/networks", prefix, k);
    for (int s = 0; s < m->n_species; s++)
      if ((st = read_network(netdir, k, s, m, err))) goto fail;
  }
  *out = m;
  return ELIGN_OK;
fail:
  elign_error_prefix(err, "ANI model %s: ", name);
  ani_model_free(&m);
  return st;
}

static const char *known_info_file(const char *name) {
  if (!strcmp(name, "ani-2x") || !strcmp(name, "ANI-2x") || !strcmp(name, "ani2x")) return "ani-2x_8x.info";
  if (!strcmp(name, "ani-1x") || !strcmp(name, "ANI-1x") || !strcmp(name, "ani1x")) return "ani-1x_8x.info";
  if (!strcmp(name, "ani-1ccx") || !strcmp(name, "ANI-1ccx") || !strcmp(name, "ani1ccx")) return "ani-1ccx_8x.info";
  return NULL;
}

elign_status ani_model_load(const char *zoo_dir, const char *name, ani_model **out, elign_error *err) {
  if (!out) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ani_model_load: out is NULL");
  *out = NULL;
  if (!name || !*name) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ani_model_load: no model name");
  const char *info = known_info_file(name);
  char path[ANI_PATH_MAX];
  if (!info) {
    size_t len = strlen(name);
    if (len < 5 || strcmp(name + len - 5, ".info"))
      return ELIGN_FAIL(err, ELIGN_ERR_ARG, "unknown ANI model '%s' (valid: ani-2x, ani-1x, ani-1ccx, or an .info path)",
                        name);
    if (name[0] != '/' && zoo_dir && !file_exists(name))
      snprintf(path, sizeof path, "%s/%s", zoo_dir, name);
    else
      snprintf(path, sizeof path, "%s", name);
    return ani_model_read(path, name, out, err);
  }
  if (!zoo_dir || !*zoo_dir) return ELIGN_FAIL(err, ELIGN_ERR_ARG, "ANI model %s: no model directory given", name);
  snprintf(path, sizeof path, "%s/resources/%s", zoo_dir, info);
  if (!file_exists(path)) {
    char alt[ANI_PATH_MAX];
    snprintf(alt, sizeof alt, "%s/%s", zoo_dir, info);
    if (!file_exists(alt))
      return ELIGN_FAIL(err, ELIGN_ERR_IO, "ANI model %s: neither %s nor %s exists (is '%s' an ANI model-zoo directory?)",
                        name, path, alt, zoo_dir);
    snprintf(path, sizeof path, "%s", alt);
  }
  return ani_model_read(path, name, out, err);
}

void ani_model_free(ani_model **mp) {
  if (!mp || !*mp) return;
  ani_model *m = *mp;
  if (m->nets) {
    for (int k = 0; k < m->n_members; k++)
      for (int s = 0; s < m->n_species; s++) {
        ani_net *net = &m->nets[k * m->n_species + s];
        for (int l = 1; l < net->n_layers; l++) {
          elign_free(net->layer[l].w);
          elign_free(net->layer[l].b);
        }
      }
  }
  for (int s = 0; s < ANI_MAX_SPECIES; s++) {
    elign_free(m->w1_stack[s]);
    elign_free(m->b1_stack[s]);
  }
  elign_free(m->nets);
  elign_free(m->name);
  elign_free(m);
  *mp = NULL;
}

/* ------------------------------------------------------------------------ */
/* accessors                                                                 */

int ani_model_supports(const ani_model *m, int Z) { return ani_model_species_index(m, Z) >= 0; }
int ani_model_species_index(const ani_model *m, int Z) {
  return (m && Z >= 0 && Z < 128) ? m->z_to_species[Z] : -1;
}
int ani_model_n_members(const ani_model *m) { return m->n_members; }
int ani_model_aev_length(const ani_model *m) { return m->aev.aev_length; }
double ani_model_sae(const ani_model *m, int s) { return (s >= 0 && s < m->n_species) ? m->sae[s] : NAN; }
