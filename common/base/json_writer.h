/* json_writer.h — a streaming JSON writer (the other half of json.h).
 *
 * Writes nested objects and arrays to a stdio stream, either indented (a
 * summary people read: `elign eval --out E.json`) or on one line (a JSON
 * Lines record). Commas, indentation and string escapes are the writer's
 * business; the caller only opens, fills and closes containers:
 *
 *   elign_json_writer w;
 *   elign_jw_init(&w, f, 1);                    // 1 = indented, 0 = one line
 *   elign_jw_begin_object(&w, NULL);            // the top level has no key
 *   elign_jw_string(&w, "rdkit_version", v);
 *   elign_jw_begin_object(&w, "stability");
 *   elign_jw_number(&w, "mol_stable", 0.8267);  // NaN/Inf -> null
 *   elign_jw_end(&w);
 *   elign_jw_begin_array(&w, "failed");
 *   elign_jw_int(&w, NULL, 17);                 // array items have no key
 *   elign_jw_end(&w);
 *   elign_jw_end(&w);                           // closes the top level (+ '\n' when indented)
 *   if (elign_jw_error(&w)) ...                 // a write failed somewhere
 *
 * Numbers are written with the fewest significant digits (15..17) that read
 * back as the same double, so a value survives a write/parse round trip bit
 * for bit and equal values always print alike. Keys inside an object must be
 * given, keys inside an array must be NULL (ELIGN_ASSERT: that is a bug).
 */
#ifndef ELIGN_JSON_WRITER_H
#define ELIGN_JSON_WRITER_H

#include <stdio.h>

#define ELIGN_JW_MAX_DEPTH 32

typedef struct {
  FILE *f;
  int pretty;                        /* indent with two spaces per level */
  int depth;                         /* open containers */
  char kind[ELIGN_JW_MAX_DEPTH];     /* 'o' object, 'a' array */
  int count[ELIGN_JW_MAX_DEPTH];     /* items written in each open container */
  int failed;                        /* a fprintf/fputs returned an error */
} elign_json_writer;

void elign_jw_init(elign_json_writer *w, FILE *f, int pretty);
void elign_jw_begin_object(elign_json_writer *w, const char *key);
void elign_jw_begin_array(elign_json_writer *w, const char *key);
/* Close the innermost container; closing the top level ends an indented
 * document with a newline. */
void elign_jw_end(elign_json_writer *w);

void elign_jw_number(elign_json_writer *w, const char *key, double value); /* non-finite -> null */
void elign_jw_int(elign_json_writer *w, const char *key, long long value);
void elign_jw_bool(elign_json_writer *w, const char *key, int value);
void elign_jw_string(elign_json_writer *w, const char *key, const char *value); /* NULL -> null */
void elign_jw_null(elign_json_writer *w, const char *key);

/* 1 if any write failed (disk full, closed stream). */
int elign_jw_error(const elign_json_writer *w);

/* The shortest "%.Ng" text (N = 15..17) that reads back as `value` (finite);
 * "-0.0"/"3.0" keep a point so a double stays recognisable. buf >= 32 bytes. */
void elign_json_format_double(double value, char *buf, size_t cap);

#endif
