/* json.h — a small strict JSON reader (RFC 8259) for split files and the like.
 *
 * Parses the whole text into a tree; errors name the source and line
 * ("split.json line 3: expected ',' or ']'"). Numbers are doubles (integers
 * up to 2^53 are exact). Duplicate object keys are an error.
 */
#ifndef ELIGN_JSON_H
#define ELIGN_JSON_H

#include <stddef.h>

#include "common/base/error.h"

typedef enum {
  ELIGN_JSON_NULL,
  ELIGN_JSON_BOOL,
  ELIGN_JSON_NUMBER,
  ELIGN_JSON_STRING,
  ELIGN_JSON_ARRAY,
  ELIGN_JSON_OBJECT
} elign_json_type;

typedef struct elign_json {
  elign_json_type type;
  int line;                 /* where the value starts (1-based) */
  int boolean;
  double number;
  char *string;             /* STRING (UTF-8, unescaped) */
  int n;                    /* ARRAY/OBJECT: number of items */
  struct elign_json *items; /* [n] */
  char **keys;              /* OBJECT: [n] */
} elign_json;

/* Parse text[0..len). source names the input in messages. */
elign_status elign_json_parse(const char *text, size_t len, const char *source, elign_json *out, elign_error *err);
elign_status elign_json_parse_file(const char *path, elign_json *out, elign_error *err);
void elign_json_free(elign_json *v);
/* Object member or NULL. */
const elign_json *elign_json_get(const elign_json *obj, const char *key);

#endif
